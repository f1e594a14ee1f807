"""The buyer's address, as the buyer wrote it: one type for screening, routing, placing an order and the API."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Address:
    """Where and to whom an order goes (API.md: `buyer`). Screening and routing read the phone, province, city,
    district and street; only the public feed reads the name, masked (`ordering.mask_name`), so a rule that just
    locates may leave it blank. District and street may be blank as written: screening holds the order then."""

    name: str
    phone: str
    province: str
    city: str
    district: str = ""
    address: str = ""

    def as_dict(self) -> dict[str, str]:
        """The stored shape (the `orders.buyer` column): the API's field names."""
        return {
            "name": self.name,
            "phone": self.phone,
            "province": self.province,
            "city": self.city,
            "district": self.district,
            "address": self.address,
        }
