"""The adapter proxies of the context: public ``close()`` / ``refresh()`` / ``is_built``
instead of tests reaching into their private state."""

from __future__ import annotations

from crm_pay.bootstrap import LazyAdapter


class _Closable:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_lazy_adapter_builds_on_first_use_and_close_closes_only_a_built_one() -> None:
    built: list[_Closable] = []

    def build() -> _Closable:
        built.append(_Closable())
        return built[-1]

    proxy = LazyAdapter(build)
    assert not proxy.is_built
    proxy.close()  # nothing built: nothing to close, nothing built by closing
    assert built == []
    first = proxy.wrapped_adapter
    assert proxy.is_built and built == [first]
    proxy.close()
    assert first.closed and not proxy.is_built


def test_lazy_adapter_refresh_rebuilds_on_next_use() -> None:
    proxy = LazyAdapter(_Closable)
    first = proxy.wrapped_adapter
    proxy.refresh()
    assert proxy.wrapped_adapter is not first
