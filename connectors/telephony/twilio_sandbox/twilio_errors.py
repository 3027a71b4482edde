"""Twilio's REST error answers, the JSON the SDK turns into ``TwilioRestException``.

The body is Twilio's legacy error document: ``{"code", "message", "more_info", "status"}``
(twilio-python ``twilio/base/version.py::Version.exception`` reads ``message`` and
``code``; ``more_info`` is ``https://www.twilio.com/docs/errors/{code}``, the address the
SDK prints too, ``twilio/base/exceptions.py``). The codes, from Twilio's error dictionary
(twilio.com/docs/api/errors/{code}):

* 20003 Authenticate (401): wrong or missing credentials;
* 20404 Not Found (404): "the SID in the request does not exist";
* 21220 Invalid call state: "a realtime operation on a Call that was not in-progress";
* 64004 Pay: invalid paymentConnector (no Pay Connector of that unique name);
* 64018 Pay: "Value needed for either Capture or Status parameters" (neither or both);
* 64020 Pay: Invalid Parameter Value;
* 64021 Pay: Invalid Operation ("Start operation on already started Pay session").
"""

from __future__ import annotations

from typing import Any

__all__ = ["TwilioError"]


class TwilioError(Exception):
    """A refusal as Twilio answers it."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def document(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }

    @classmethod
    def not_found(cls, path: str) -> TwilioError:
        return cls(404, 20404, f"The requested resource {path} was not found")

    @classmethod
    def invalid_value(cls, message: str) -> TwilioError:
        return cls(400, 64020, f"Pay: Invalid Parameter Value: {message}")

    @classmethod
    def invalid_operation(cls, message: str) -> TwilioError:
        return cls(400, 64021, f"Pay: Invalid Operation: {message}")

    @classmethod
    def call_not_in_progress(cls) -> TwilioError:
        return cls(400, 21220, "Invalid call state: the call is not in-progress")
