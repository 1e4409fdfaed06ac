"""Small facts about network addresses, shared by the settings, the API guard and the emulator."""

from __future__ import annotations

from ipaddress import ip_address


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_public_address(host: str) -> bool:
    """Whether ``host`` (an IP address) is one the internet routes to: not private, loopback,
    link-local, shared (100.64/10), multicast, reserved or unspecified, nor an IPv6 form of one
    (IPv4-mapped, 6to4, Teredo). Anything else is what SSRF aims at."""
    try:
        address = ip_address(host.strip("[]"))
    except ValueError:
        return False
    if address.version == 6:
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public_address(str(embedded))
        if address.teredo is not None:
            return is_public_address(str(address.teredo[1]))
    return bool(address.is_global) and not address.is_multicast
