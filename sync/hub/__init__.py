"""The hub side: per-facility TUF repositories, PKI and enrollment, roster, reconciliation,
the API and the upstream adapters. Devices never import it."""
