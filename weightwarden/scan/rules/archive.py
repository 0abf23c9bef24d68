"""Archive family (WW-ARC-*): zip, tar and 7z containers and compressed streams.

Model files are often archives (PyTorch checkpoints, ``.keras``, ``.npz``, ``.nemo``, ``.mar``). Loaders
and scanners read them with different parsers, so any disagreement between a zip's local headers and its
central directory (CRC, names, flags, sizes, duplicates) is a way to show a scanner one member and the
loader another. Members that escape the extraction folder, links, bombs and members that cannot be read
(encrypted, unknown compression) are findings too: nothing is skipped silently.
"""

from __future__ import annotations

from weightwarden.core.findings import Severity
from weightwarden.scan.rules.base import (
    ATLAS_SUPPLY_CHAIN,
    CWE_COMPRESSION_BOMB,
    CWE_INPUT_VALIDATION,
    CWE_INTEGRITY_CHECK,
    CWE_INTERPRETATION_CONFLICT,
    CWE_LINK_FOLLOWING,
    CWE_PATH_TRAVERSAL,
    CWE_RESOURCE,
    ScanRule,
)

_REDOWNLOAD = "Do not load or extract the file. Re-download it from the publisher and compare its hash."

DIFFERENTIAL = ScanRule(
    "WW-ARC-001",
    Severity.HIGH,
    "Archive headers disagree (parser differential)",
    "Zip loaders find different member lists (two central directories), the local header and the central "
    "directory of a member disagree (name, flags, compression, sizes), a "
    "member's CRC-32 does not match its bytes, two members share a name or bytes, or another file is "
    "prepended, or a directory entry carries data (tar and 7z: duplicate member names). Loaders and "
    "scanners then read different content: this is how scanners get bypassed.",
    _REDOWNLOAD,
    (CWE_INTERPRETATION_CONFLICT, CWE_INTEGRITY_CHECK, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=(
        "zip.directory_mismatch",
        "zip.local_name_mismatch",
        "zip.flag_mismatch",
        "zip.compression_mismatch",
        "zip.size_mismatch",
        "zip.crc_mismatch",
        "zip.duplicate_name",
        "zip.overlapping_members",
        "zip.prepended_data",
        "zip.bad_local_header",
        "zip.directory_with_data",
        "tar.directory_with_data",
        "7z.directory_with_data",
        "tar.duplicate_name",
        "7z.duplicate_name",
        "7z.name_rewritten",
    ),
)
MALFORMED = ScanRule(
    "WW-ARC-002",
    Severity.MEDIUM,
    "Archive is malformed",
    "The archive's directory cannot be read, a member lies outside the file, or compressed data does not "
    "decompress. Some content could not be inspected.",
    _REDOWNLOAD,
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=(
        "zip.bad_central_directory", "zip.out_of_bounds", "zip.corrupt_member", "tar.bad_header", "tar.truncated",
        "7z.bad_archive", "compressed.corrupt", "compressed.truncated",
    ),
)
HIDDEN_BYTES = ScanRule(
    "WW-ARC-003",
    Severity.MEDIUM,
    "Archive carries bytes outside its members",
    "Unaccounted bytes sit between members or after the end-of-central-directory record. Zip readers skip "
    "them; they can hide a second payload (polyglot files).",
    "Re-create the archive with a standard tool; ask the publisher what the extra bytes are.",
    (CWE_INTERPRETATION_CONFLICT,),
    anomaly_codes=("zip.gap", "zip.trailing_data", "tar.trailing_data", "compressed.trailing_data"),
)
UNSCANNABLE = ScanRule(
    "WW-ARC-004",
    Severity.HIGH,
    "Archive member cannot be scanned (encrypted or unsupported compression)",
    "The member's content (or a compressed file's: lz4's legacy frame, snappy, a codec whose decoder is not "
    "installed) could not be decoded, so it was not inspected. Attackers encrypt or use rare compression "
    "methods to hide payloads from scanners while custom loaders still read them.",
    "Ask for an unencrypted archive with standard compression (stored or deflate), or inspect it manually.",
    (CWE_INPUT_VALIDATION, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("zip.encrypted_member", "zip.unsupported_compression", "7z.encrypted", "archive.member_not_read",
                   "compressed.unsupported"),
)
TRAVERSAL = ScanRule(
    "WW-ARC-005",
    Severity.HIGH,
    "Archive member escapes the extraction folder (zip-slip)",
    "A member name contains '..' components or is absolute. Extracting the archive writes outside the "
    "target folder, e.g. over shell profiles or Python packages.",
    "Do not extract the archive with tools that honour such names; re-create it with relative names.",
    (CWE_PATH_TRAVERSAL, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("archive.path_traversal", "archive.absolute_path"),
)
LINK_MEMBER = ScanRule(
    "WW-ARC-006",
    Severity.HIGH,
    "Archive member is a link or a device",
    "A member is a symbolic or hard link, or a device/FIFO node. Extracting it can make later members, or the "
    "loader, read or write files outside the model folder, or block on a device.",
    "Re-create the archive with regular files only.",
    (CWE_LINK_FOLLOWING, CWE_PATH_TRAVERSAL),
    anomaly_codes=("archive.symlink_member", "archive.hardlink_member", "archive.device_member"),
)
BOMB = ScanRule(
    "WW-ARC-007",
    Severity.HIGH,
    "Decompression bomb or runaway archive",
    "A member expands past the compression-ratio or size bounds, archives nest deeper than allowed, or an "
    "archive has more members than the scanner reads. Extracting or loading it exhausts disk or memory, "
    "and content past the bound was not inspected.",
    "Do not extract the archive. If it is legitimate, repackage it without extreme compression or nesting.",
    (CWE_COMPRESSION_BOMB, CWE_RESOURCE),
    anomaly_codes=("archive.bomb", "archive.too_deep", "archive.too_many_members", "compressed.bomb"),
)

RULES: tuple[ScanRule, ...] = (DIFFERENTIAL, MALFORMED, HIDDEN_BYTES, UNSCANNABLE, TRAVERSAL, LINK_MEMBER, BOMB)
