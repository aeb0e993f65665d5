"""``python -m fuzz.seeds``: (re)build the seed inputs of every atheris harness from transcripts/,
tests/data/captures and the conformance vectors (../shared/conformance/, when it is there), into
fuzz/corpus/NAME/.  Then ``python -m fuzz NAME --minimize --seconds 60`` keeps the inputs that add coverage.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from h11dbg.transcript import Chunk, TranscriptError, open_transcript

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "corpus"
CONFORMANCE = [ROOT.parent / "shared" / "conformance" / "llhttp_vectors.jsonl",
               ROOT / "tests" / "data" / "conformance" / "llhttp_vectors.jsonl"]
MAX_SEED = 4096
# engine.PRELUDES indices: 0 client after GET (reads responses), 7 server idle (reads requests)
CLIENT_AFTER_GET, SERVER_IDLE = 0, 7
# differential control bytes: bit 0 server, bits 1-2 the method (0: GET), bit 3 end of stream
DIFF_SERVER, DIFF_CLIENT = 0x01, 0x00


def save(name: str, data: bytes) -> None:
    folder = CORPUS / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def peer_streams() -> list[tuple[str, bytes]]:
    """(role that reads them, bytes) for each connection's direction in the transcripts and captures."""
    out: list[tuple[str, bytes]] = []
    files = [*sorted((ROOT / "transcripts").glob("*.h11t")), *sorted((ROOT / "tests/data/captures").glob("*.*"))]
    for path in files:
        if path.suffix not in (".h11t", ".pcap", ".pcapng", ".har", ".txt"):
            continue
        streams: dict[tuple[int, str], bytes] = {}
        try:
            for record in open_transcript(path).records:
                if isinstance(record, Chunk):
                    key = (record.conn, record.direction)
                    streams[key] = streams.get(key, b"") + record.data
        except TranscriptError:  # the captures made to be refused (two link types): their bytes so far
            pass
        for (_, direction), data in streams.items():
            out.append(("server" if direction == "c2s" else "client", data[:MAX_SEED]))
    for vectors in CONFORMANCE:
        if vectors.exists():
            for line in vectors.read_text().splitlines():
                vector = json.loads(line)
                out.append((vector["role"], base64.b64decode(vector["input_b64"])[:MAX_SEED]))
            break
    return out


def main() -> None:
    for role, data in peer_streams():
        save("engine", bytes([SERVER_IDLE if role == "server" else CLIENT_AFTER_GET]) + data)
        save("differential", bytes([DIFF_SERVER if role == "server" else DIFF_CLIENT]) + data)
    for control in range(0, 256, 7):
        save("differential", bytes([control | 0x80]) + bytes(range(control % 40)))
    files = [*sorted((ROOT / "transcripts").glob("*.h11t")), *sorted((ROOT / "tests/data/captures").glob("*.*"))]
    kinds = {".h11t": "reader", ".pcap": "pcap", ".pcapng": "pcapng", ".har": "har", ".txt": "curl-trace"}
    for path in files:
        kind = kinds.get(path.suffix)
        if kind and path.stat().st_size <= 64 * 1024:
            save(kind, path.read_bytes())
    for name in ("engine", "differential", *kinds.values()):
        print(name, len(list((CORPUS / name).iterdir())), "seeds")


if __name__ == "__main__":
    main()
