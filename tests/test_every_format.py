import pytest
from typer.testing import CliRunner

from nmt.errors import NmtError
from nmt.export.every_format import load_for_export
from nmt_cli.app import app


def test_a_precision_export_has_not_is_refused_by_name_before_the_run_is_read(tmp_path):
    missing, out = tmp_path / "no-run", tmp_path / "out"
    with pytest.raises(NmtError, match=r"^precision 'fp16': export in fp32 or int8$"):
        load_for_export(missing, out, "fp16", object, "")
    result = CliRunner().invoke(
        app, ["export", str(missing), "-o", str(out), "--precision", "fp16"]
    )
    assert result.exit_code == 2
    assert "error: --precision 'fp16': export in fp32 or int8" in result.output
