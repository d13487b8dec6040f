"""Akashic, the political campaign console (see `services/akashic`): its kind of organization,
`campaign`, with the staff roles; its types, root parts and jobs join here as they are built."""

from __future__ import annotations

from core.products import Product
from services.akashic import CAMPAIGN

AKASHIC = Product(name="akashic", organization_kinds=(CAMPAIGN,))
