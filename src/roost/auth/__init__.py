"""Message authentication: SPF, DKIM, DMARC, ARC (one module per standard) and DKIM key handling."""
