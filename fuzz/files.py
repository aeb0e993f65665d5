"""Coverage-guided harnesses for the transcript reader and each importer: the input is a file of that format,
read with the format's own reader (not through open_transcript, whose catch-all would turn an importer's
crash into a TranscriptError and hide it) and iterated to the end.  Anything but TranscriptError is a
finding; so is an input that takes longer than libFuzzer's -timeout.

    python -m fuzz pcap --seconds 600       # reader, pcap, pcapng, curl-trace, har
    python -m fuzz.files --format=pcap CORPUS_DIR [libFuzzer flags]
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["h11dbg.transcript"]):
    import h11dbg.transcript.importers.curl_trace
    import h11dbg.transcript.importers.har
    import h11dbg.transcript.importers.pcap  # noqa: F401  (loaded here so they are instrumented)
    from h11dbg.transcript import TranscriptError, available_formats, formats

# Harness name -> the registered format whose reader it drives.
READERS = {"reader": "h11dbg", "pcap": "pcap", "pcapng": "pcapng", "curl-trace": "curl-trace", "har": "har"}


def reader_check(name: str):  # type: ignore[no-untyped-def]
    available_formats()  # registers the importers
    fmt = formats.formats()[READERS[name]]
    scratch = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-")) / "input"

    def check(data: bytes) -> None:
        # Through a file half the time (the readers seek and re-read), else as standard input would be.
        as_stream = bool(data) and data[-1] & 1
        options = {"stream": io.BufferedReader(io.BytesIO(data))} if as_stream else {}  # type: ignore[arg-type]
        if not as_stream:
            scratch.write_bytes(data)
        try:
            transcript = fmt.read(scratch, **options)
            for _ in transcript.records:
                pass
        except TranscriptError:
            pass

    return check


def main() -> None:
    args = [os.environ.get("FUZZ_SELF", sys.argv[0]), *(a for a in sys.argv[1:] if not a.startswith("--format="))]
    name = next(arg.split("=", 1)[1] for arg in sys.argv if arg.startswith("--format="))
    atheris.Setup(args, reader_check(name))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
