"""`nmt serve`: trained runs behind an HTTP API and a web page that shows attention."""

import logging
from pathlib import Path
from typing import Annotated

import typer

from nmt.extras import missing
from nmt_cli.common import Device, Precision, Shortlist, flag, user_errors

LIMITS = "Limits per request"
SERVE_EXTRA = ("fastapi", "starlette", "pydantic", "uvicorn", "h11")  # pip install 'nmt[serve]'
BATCHING = "Batching"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""

    @app.command("serve")
    @user_errors
    def serve(
        models: Annotated[
            list[Path],
            typer.Argument(
                metavar="MODEL",
                help="Run directories (best checkpoint, else last), .pt files or exported "
                "folders, each served under its folder's name; the first is the default.",
                show_default=False,
            ),
        ],
        host: Annotated[
            str,
            typer.Option(
                help="The address to listen on; 0.0.0.0 serves every network this machine is on."
            ),
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="The port; 0 picks a free one.")] = 8000,
        allow_host: Annotated[
            list[str] | None,
            typer.Option(
                help="Also answer requests that name this server NAME (behind a proxy, say); "
                "* answers any. Without it: IP addresses, localhost and --host only, so that "
                "no other site's page can reach the server through DNS rebinding.",
                metavar="NAME",
            ),
        ] = None,
        device: Device = "auto",
        precision: Precision = "auto",
        shortlist: Shortlist = False,
        max_sentences: Annotated[
            int,
            typer.Option(min=1, help="Sentences (or pairs) per request.", rich_help_panel=LIMITS),
        ] = 64,
        max_chars: Annotated[
            int,
            typer.Option(
                min=1, help="Characters of all texts of a request.", rich_help_panel=LIMITS
            ),
        ] = 10_000,
        max_beam: Annotated[
            int,
            typer.Option(min=1, help="Largest beam, nbest or nsamples.", rich_help_panel=LIMITS),
        ] = 16,
        batch_wait_ms: Annotated[
            float,
            typer.Option(
                help="How long the first request of a batch waits for others to join it "
                "(0 to 1000).",
                rich_help_panel=BATCHING,
            ),
        ] = 5.0,
        batch_tokens: Annotated[
            int,
            typer.Option(
                min=1,
                help="Source tokens one model call takes; later requests wait for the next.",
                rich_help_panel=BATCHING,
            ),
        ] = 4096,
    ) -> None:
        """Serve translation over HTTP, with a page that draws the attention.

        The page is at http://HOST:PORT/, the API under /v1 (described at /docs).

        Requests that arrive together are decoded together, in one model call.

        Ctrl-C or SIGTERM lets the requests in flight finish, then stops. Examples:

          nmt serve runs/quick

          nmt serve runs/a runs/b --port 9000

          curl -s localhost:8000/v1/translate -H 'content-type: application/json' \\
              -d '{"text": ["Ein Hund läuft."], "beam": 5}'
        """
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
        )
        try:
            from nmt.serve.app import Batching, create_app
            from nmt.serve.limits import Limits
            from nmt.serve.models import load_models
            from nmt.serve.server import bind
            from nmt.serve.server import serve as run_server
        except ModuleNotFoundError as error:
            if error.name not in SERVE_EXTRA:
                raise
            raise missing("serve", error) from None

        batching = Batching(batch_wait_ms, batch_tokens)
        sock = bind(host, port)  # a port in use fails before the models load
        served = load_models(models, device, precision, shortlist)
        limits = Limits(max_sentences=max_sentences, max_chars=max_chars, max_beam=max_beam)
        hosts = [host, *(allow_host or [])]
        app = create_app(served, limits, batching, hosts, spell=flag)
        try:
            run_server(app, sock)
        except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has stopped gracefully
            raise typer.Exit(130) from None
