"""What a tool hands back in its job folder (`result.json`), read as untrusted input.

The file is opened without following a symlink (a tool could point it at a credential the
runner can read), bounded in size, and validated whole before anything reaches the board:
a result with one bad field is refused as a whole, with the field named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ainarres.errors import BadInput
from ainarres.review.service import Remark
from ainarres.text import read_small_text

MAX_RESULT = 1 << 20
RESULT_FILE = "result.json"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Annotation(_Strict):
    file: str = Field(min_length=1, max_length=4096)
    line: int = Field(ge=1, le=10_000_000)
    side: Literal["new", "old"] = "new"
    severity: Literal["blocker", "major", "minor", "nit"] = "minor"
    body: str = Field(min_length=1, max_length=16384)

    def remark(self) -> Remark:
        return Remark(self.file, self.line, self.side, self.severity, self.body)


class ReviewResult(_Strict):
    verdict: Literal["approve", "return"]
    reason: str = Field(default="", max_length=4000)
    annotations: tuple[Annotation, ...] = Field(default=(), max_length=200)


class DesignedTask(_Strict):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=65536)
    depends_on: tuple[int, ...] = ()
    priority: int = Field(default=0, ge=-1000, le=1000)


class DesignResult(_Strict):
    tasks: tuple[DesignedTask, ...] = Field(min_length=1, max_length=100)


Model = TypeVar("Model", bound=_Strict)


def read_text(path: Path, limit: int = MAX_RESULT) -> str:
    """The text of a result file the tool wrote (see `text.read_small_text`)."""
    return read_small_text(path, path.name, limit, missing=f"the tool wrote no {path.name}")


def read(job_dir: Path, model: type[Model]) -> Model:
    """The tool's result, validated as `model`; BadInput names what is wrong."""
    raw = read_text(job_dir / RESULT_FILE)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "the top level"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise BadInput(f"{RESULT_FILE}: {where}: {err['msg']}{more}") from None
