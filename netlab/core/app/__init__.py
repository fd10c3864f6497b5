"""Application-layer fields (DNS, HTTP, TLS, ARP): `payload` reads one packet's payload,
`columns` the same fields for many packets at once (vectorised)."""
