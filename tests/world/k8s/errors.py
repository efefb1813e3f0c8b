"""The one error type: rendered as a `kind: Status` body, like every kube-apiserver failure."""


class ApiError(Exception):
    """A failure rendered as a `kind: Status` body with a standard reason (kube-rs matches on the reason)."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict:
        return {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                'message': self.message, 'reason': self.reason, 'details': self.details, 'code': self.code}
