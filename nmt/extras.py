"""The optional parts of nmt and what says they are missing: `nmt serve` needs the serve
extra (FastAPI, uvicorn), pictures need the plot extra (matplotlib)."""

from nmt.errors import NmtError


def missing(extra: str, error: ModuleNotFoundError) -> NmtError:
    """One line naming the module not found and the extra that installs it."""
    return NmtError(
        f"{error.name} is not installed; it comes with nmt's {extra} extra: "
        f"pip install 'nmt[{extra}]'"
    )
