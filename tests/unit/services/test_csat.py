"""Satisfaction surveys: the link in a payment's receipt email (only while CSAT is on),
one answer per payment, the answer on the CRM timeline, the figures for the dashboard."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm_pay.domain.errors import Conflict, Gone, NotFound, ValidationError
from crm_pay.persistence.models import CsatAnswer
from crm_pay.services.csat import answer_survey, csat_figures, open_survey, survey_link
from crm_pay.testing import FakeWorld, OutboxRunner
from servicetest import paid
from vault import pan


@pytest.fixture
def csat_on(world: FakeWorld) -> FakeWorld:
    world.ctx.config = dataclasses.replace(world.ctx.config, csat=True)
    return world


def _survey_token(world: FakeWorld, outbox: OutboxRunner) -> str:
    outbox.drain()
    (receipt,) = world.email.to("ada@example.com")
    (link,) = [w for w in receipt.text.split() if "/survey/" in w]
    assert link in receipt.html
    return link.rsplit("/survey/", 1)[1]


def test_the_receipt_email_carries_the_survey_link_only_while_csat_is_on(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    paid(world.ctx)
    outbox.drain()
    (receipt,) = world.email.to("ada@example.com")
    assert "/survey/" not in receipt.text
    world.ctx.config = dataclasses.replace(world.ctx.config, csat=True)
    paid(world.ctx, "20.00")
    outbox.drain()
    assert "/survey/" in world.email.to("ada@example.com")[-1].text


def test_one_answer_per_payment_and_it_reaches_the_crm_timeline(
    csat_on: FakeWorld, outbox: OutboxRunner
) -> None:
    payment = paid(csat_on.ctx)
    token = _survey_token(csat_on, outbox)
    assert open_survey(csat_on.ctx, token)["answered"] is False

    assert answer_survey(csat_on.ctx, token, score="4", comment=" Quick and easy ") == {
        "payment_id": payment["id"],
        "score": 4,
    }
    with pytest.raises(Conflict, match="answered already") as second:
        answer_survey(csat_on.ctx, token, score="1", comment="changed my mind")
    assert second.value.code == "survey_answered"
    assert open_survey(csat_on.ctx, token)["answered"] is True

    outbox.drain()
    notes = [c for c in csat_on.crm.calls_to("add_timeline_note") if "Satisfaction" in str(c)]
    assert len(notes) == 1
    assert "4 out of 5" in str(notes[0]) and "Quick and easy" in str(notes[0])
    with csat_on.ctx.db.transaction() as s:
        assert [a.score for a in s.scalars(select(CsatAnswer))] == [4]


@pytest.mark.parametrize("score", ["0", "6", "", "five", "3.5"])
def test_a_score_outside_one_to_five_is_refused_and_nothing_is_kept(
    csat_on: FakeWorld, outbox: OutboxRunner, score: str
) -> None:
    paid(csat_on.ctx)
    token = _survey_token(csat_on, outbox)
    with pytest.raises(ValidationError, match="from 1 to 5"):
        answer_survey(csat_on.ctx, token, score=score, comment="")
    assert open_survey(csat_on.ctx, token)["answered"] is False


def test_a_too_long_comment_is_refused_with_the_limit(
    csat_on: FakeWorld, outbox: OutboxRunner
) -> None:
    paid(csat_on.ctx)
    token = _survey_token(csat_on, outbox)
    with pytest.raises(ValidationError, match="1000 characters"):
        answer_survey(csat_on.ctx, token, score="5", comment="x" * 1001)


def test_a_forged_or_expired_link_is_refused(csat_on: FakeWorld, outbox: OutboxRunner) -> None:
    paid(csat_on.ctx)
    token = _survey_token(csat_on, outbox)
    with pytest.raises(NotFound):
        open_survey(csat_on.ctx, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    csat_on.clock.advance(days=31)
    with pytest.raises(Gone):
        answer_survey(csat_on.ctx, token, score="5", comment="")


def test_a_card_number_in_a_comment_is_kept_nowhere(
    csat_on: FakeWorld, outbox: OutboxRunner
) -> None:
    paid(csat_on.ctx)
    token = _survey_token(csat_on, outbox)
    answer_survey(csat_on.ctx, token, score="2", comment="my card 4111 1111 1111 1111 was slow")
    outbox.drain()
    with csat_on.ctx.db.transaction() as s:
        (answer,) = s.scalars(select(CsatAnswer))
        assert not pan.contains_pan(answer.comment)
    for call in csat_on.crm.calls_to("add_timeline_note"):
        assert not pan.contains_pan(str(call))


def test_no_survey_link_without_csat(world: FakeWorld) -> None:
    assert survey_link(world.ctx, "pay_x") is None


def test_csat_figures_count_average_and_distribution(
    csat_on: FakeWorld, outbox: OutboxRunner
) -> None:
    start = csat_on.clock.now
    for score in ("5", "4", "4"):
        paid(csat_on.ctx, "10.00")
        outbox.drain()
        link = [w for w in csat_on.email.sent[-1].text.split() if "/survey/" in w][0]
        answer_survey(csat_on.ctx, link.rsplit("/", 1)[1], score=score, comment="")
    end = csat_on.clock.advance(seconds=1)
    with csat_on.ctx.db.transaction() as s:
        figures = csat_figures(s, start=start, end=end)
        empty = csat_figures(s, start=end, end=end + timedelta(days=1))
    assert figures == {
        "count": 3,
        "average": 4.33,
        "distribution": {1: 0, 2: 0, 3: 0, 4: 2, 5: 1},
    }
    assert empty == {"count": 0, "average": None, "distribution": {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}}
