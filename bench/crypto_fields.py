"""SM4 field encryption speed (both backends) against OpenSSL's own bulk SM4.

Targets (issue #3, held on a loaded machine by issue 10 item 7): field
encrypt + decrypt median ≤ 10 µs on the OpenSSL backend; bulk SM4-GCM ≥ 50 %
of ``openssl speed -evp sm4-cbc`` measured in this run. gmssl, the
pure-Python reference, is printed beside.

The round trip is timed by this thread's CPU time over a thousand small
batches (:func:`bench.report.sample_cpu`): the median no longer counts the
time a busy machine gives to other work; the wall-clock median is printed
beside.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess

from lendkit.crypto.fields import context, open_value, seal_value
from lendkit.crypto.sm4 import GMSSL, OPENSSL, Backend

from bench.report import Samples, emit, median_seconds, sample_cpu, target

FIELD = b"110101199003071235"
BULK = 1 << 20  # 1 MiB per call


def field_roundtrip(backend: Backend, rounds: int, inner: int) -> Samples:
    """Seal then open one 18-byte field (an ID number), per call."""
    key, ctx = secrets.token_bytes(16), context("borrower", "id_number", secrets.token_bytes(16))

    def roundtrip() -> None:
        open_value(backend, key, seal_value(backend, 1, key, FIELD, ctx), ctx)

    return sample_cpu({"roundtrip": roundtrip}, rounds, inner)["roundtrip"]


def bulk_mb_per_s(backend: Backend, size: int, repeat: int) -> float:
    key, nonce, data = secrets.token_bytes(16), secrets.token_bytes(12), secrets.token_bytes(size)
    seconds = median_seconds(lambda: backend.encrypt(key, nonce, data, b""), repeat)
    return size / seconds / 1e6


def openssl_speed_mb_per_s() -> float | None:
    """OpenSSL's own SM4-CBC throughput on 16 KiB blocks, in MB/s."""
    binary = shutil.which("openssl")
    if binary is None:
        return None
    out = subprocess.run(
        [binary, "speed", "-evp", "sm4-cbc", "-seconds", "2"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    row = next(line for line in out.splitlines() if line.lower().startswith("sm4-cbc"))
    last = re.findall(r"([\d.]+)k", row)[-1]
    return float(last) * 1000 / 1e6


def main() -> None:
    openssl_samples = field_roundtrip(OPENSSL, rounds=1001, inner=20)
    openssl_field = openssl_samples.cpu_median * 1e6
    gmssl_field = field_roundtrip(GMSSL, rounds=7, inner=20).cpu_median * 1e6
    openssl_bulk = bulk_mb_per_s(OPENSSL, BULK, repeat=15)
    gmssl_bulk = bulk_mb_per_s(GMSSL, 16 * 1024, repeat=3)
    reference = openssl_speed_mb_per_s()
    ratio = openssl_bulk / reference if reference else None
    print("targets (CPU time of this thread, medians of batches):")
    field_met = target("SM4 field round trip median", round(openssl_field, 2), "≤", 10, " µs")
    if ratio:
        bulk_met = target("bulk SM4-GCM × openssl speed sm4-cbc", round(ratio, 2), "≥", 0.5)
    else:
        bulk_met = False
        print("  bulk SM4-GCM × openssl speed sm4-cbc: no openssl binary (target ≥ 0.5)")
    emit(
        "crypto_fields",
        {
            "field_roundtrip_us_openssl": round(openssl_field, 2),
            "field_roundtrip_us_openssl_wall": round(openssl_samples.wall_median * 1e6, 2),
            "field_roundtrip_us_gmssl": round(gmssl_field, 1),
            "field_target_us": 10,
            "field_target_met": field_met,
            "bulk_sm4_gcm_mb_s_openssl_backend": round(openssl_bulk, 1),
            "bulk_sm4_gcm_mb_s_gmssl_backend": round(gmssl_bulk, 3),
            "openssl_speed_sm4_cbc_mb_s": round(reference, 1) if reference else None,
            "bulk_ratio_vs_openssl_speed": round(ratio, 2) if ratio else None,
            "bulk_target_ratio": 0.5,
            "bulk_target_met": bulk_met,
        },
    )


if __name__ == "__main__":
    main()
