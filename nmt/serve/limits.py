"""What one request may ask of the server: sentences, characters and hypotheses.

A server shared by many clients must not let one request hold the model for minutes or
fill the memory, so the size of a request is bounded before it is queued; the body is
bounded before it is even parsed (BodyLimit in middleware.py)."""

from __future__ import annotations

from fastapi import HTTPException
from pydantic import BaseModel, Field

from nmt.generation.decoding import DecodingOptions

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

    def check_search(self, options: DecodingOptions, default_beam: bool) -> None:
        """422 for more hypotheses than allowed: beam (`default_beam`: the run's, not
        asked for), nbest or nsamples."""
        searched = {"beam": None if options.sampling else options.beam, "nbest": options.nbest}
        if options.sampling is not None:
            searched["nsamples"] = options.sampling.nsamples
        for option, value in searched.items():
            if value is not None and value > self.max_beam:
                whose = " (the run's default)" if option == "beam" and default_beam else ""
                raise HTTPException(
                    422,
                    f"{option}: {value}{whose} is more than this server allows ({self.max_beam})",
                )

    def check_size(self, field: str, sentences: int, texts: list[list[str]]) -> None:
        """413 for more sentences or characters than a request may hold."""
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
