"""The optional parts of nmt and what says they are missing: `nmt serve` needs the serve
extra (FastAPI, uvicorn), pictures need the plot extra (matplotlib), train.tensorboard the
tensorboard extra."""

from nmt.errors import NmtError


def missing(extra: str, error: ModuleNotFoundError) -> NmtError:
    """One line naming the package not found and the extra that installs it."""
    package = (error.name or "a module").split(".")[0]
    return NmtError(
        f"{package} is not installed; it comes with nmt's {extra} extra: pip install 'nmt[{extra}]'"
    )
