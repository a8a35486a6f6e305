"""Errors with a message a user can act on; the CLI prints them as one line."""


class EvpmError(Exception):
    """Base class for errors caused by bad input, shown to the user as one line."""


class UnknownChoiceError(EvpmError, ValueError):
    """A name (profile, cycle, climate, ...) that is not one of the valid choices."""

    def __init__(self, kind: str, value: str, choices: list[str]) -> None:
        super().__init__(f"unknown {kind} {value!r}; valid choices: {', '.join(choices)}")
        self.kind, self.value, self.choices = kind, value, choices


class InvalidValueError(EvpmError, ValueError):
    """A value outside its physically or logically allowed range."""
