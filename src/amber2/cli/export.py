"""``amber2 export``: export a model bundle's heads to ONNX (work done by the library)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

__all__ = ["register"]


def export(
    model: Path = typer.Argument(..., help="Model bundle directory."),
    onnx: Path = typer.Option(..., "--onnx", help="Output .onnx file (embeddings in, one distribution per head out)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset version."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check the file with onnxruntime against "
                                "PyTorch (max abs difference <= 1e-5)."),
    allow_version_mismatch: bool = typer.Option(False, "--allow-version-mismatch", help="Load a bundle saved "
                                                "by an incompatible amber2 version anyway (with a warning)."),
) -> None:
    """Export the heads to ONNX: inputs named after the modalities, outputs probs_<head>."""
    from rich.console import Console

    from amber2.inference import AmbER2, BundleError, OnnxExportError, export_onnx, onnx_metadata

    console = Console()
    try:
        net = AmbER2.from_pretrained(model, device="cpu", allow_version_mismatch=allow_version_mismatch)
        path = export_onnx(net, onnx, opset=opset, verify=verify)
    except (BundleError, OnnxExportError) as exc:
        _fail(exc)
    meta = onnx_metadata(path)
    ins = ", ".join(f"{m} (batch, {d})" for m, d in meta["inputs"].items())
    console.print(f"wrote {path}\n  inputs:  {ins}\n  outputs: {', '.join(meta['outputs'])} (batch, "
                  f"{len(meta['classes'])}) over classes {', '.join(meta['classes'])}\n  opset {opset}"
                  f"{'; checked against PyTorch with onnxruntime' if verify else ''}",
                  highlight=False, soft_wrap=True)


def _fail(exc: BaseException) -> NoReturn:
    """Print an expected error as one line on stderr and exit with status 2 (the CLI's convention)."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add the ``export`` command to ``app``."""
    app.command("export")(export)
