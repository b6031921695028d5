"""What one request may ask of the server: sentences, characters and hypotheses.

A server shared by many clients must not let one request hold the model for minutes or
fill the memory, so the size of a request is bounded before it is queued; the body is
bounded before it is even parsed (BodyLimit in middleware.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import HTTPException
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from nmt.serve.schemas import ScoreRequest, TranslateRequest

JSON_BYTES_PER_CHAR = 12  # a character outside the BMP written as two \uXXXX escapes
ROOM_FOR_OPTIONS = 65_536  # bytes of a body besides its texts


class Limits(BaseModel):
    max_sentences: int = Field(64, description="Sentences (or pairs) per request.")
    max_chars: int = Field(10_000, description="Characters of all texts of a request.")
    max_beam: int = Field(16, description="Largest beam, nbest or nsamples.")

    def body_bytes(self) -> int:
        """The largest body that can hold a request within the limits (a score request
        has two texts per pair)."""
        return 2 * JSON_BYTES_PER_CHAR * self.max_chars + ROOM_FOR_OPTIONS

    def check_translate(self, request: TranslateRequest, default_beam: int) -> None:
        """413 for too many sentences or characters, 422 for too many hypotheses (a
        request without a beam searches with the run's)."""
        self._check_size("text", len(request.text), [request.text, request.prefixes or []])
        default = request.beam is None and not request.sample
        asked = {
            "beam": default_beam if default else request.beam,
            "nbest": request.nbest,
            "nsamples": request.nsamples,
        }
        for option, value in asked.items():
            if value is not None and value > self.max_beam:
                whose = " (the run's default)" if option == "beam" and default else ""
                raise HTTPException(
                    422,
                    f"{option}: {value}{whose} is more than this server allows ({self.max_beam})",
                )

    def check_score(self, request: ScoreRequest) -> None:
        """413 for too many pairs or characters."""
        self._check_size("sources", len(request.sources), [request.sources, request.targets])

    def _check_size(self, field: str, sentences: int, texts: list[list[str]]) -> None:
        if sentences > self.max_sentences:
            raise HTTPException(
                413,
                f"{field}: {sentences} sentences, more than this server takes in one request "
                f"({self.max_sentences})",
            )
        chars = sum(len(text) for group in texts for text in group)
        if chars > self.max_chars:
            raise HTTPException(
                413,
                f"{chars} characters of text, more than this server takes in one request "
                f"({self.max_chars})",
            )
