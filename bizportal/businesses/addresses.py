"""Thailand's official address lists: province → district → subdistrict → postcode.

The lists come from the `geothai` package (code MIT; data CC BY 4.0 © GeoThai,
built from the Department of Provincial Administration's codes and Thailand
Post's postcodes; see docs/businesses.md). A stored address keeps the Thai
names, the province code and the postcode; `resolve()` is the only way to build
one, so an address is always a real combination from the lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import geothai
from geothai.types import District, Province, Subdistrict

BANGKOK = "10"


@dataclass(frozen=True)
class Place:
    """One choice in an address list: its code and its name in the page's language."""

    code: str
    name: str


def _name(area: Province | District | Subdistrict, locale: str) -> str:
    return area.name_en if locale == "en" else area.name_th


def load_lists() -> None:
    """Load the official lists now instead of on first use (about 40 ms and 10,000 objects): a worker does it
    while preloading, before it hides what it keeps from the garbage collector."""
    geothai.provinces()
    geothai.districts("10")
    geothai.subdistricts("1001")


def provinces(locale: str) -> list[Place]:
    """The 77 provinces, sorted by name in `locale` (Bangkok first)."""
    return sorted((Place(province.code, _name(province, locale)) for province in geothai.provinces()),
                  key=lambda place: (place.code != BANGKOK, place.name))


def districts(province_code: str, locale: str) -> list[Place]:
    """The districts (amphoe, or khet in Bangkok) of a province, by name; empty for an unknown code."""
    return sorted((Place(district.code, _name(district, locale)) for district in geothai.districts(province_code)),
                  key=lambda place: place.name)


def subdistricts(district_code: str, locale: str) -> list[Place]:
    """The subdistricts (tambon, or khwaeng in Bangkok) of a district, by name; empty for an unknown code."""
    return sorted((Place(subdistrict.code, _name(subdistrict, locale))
                   for subdistrict in geothai.subdistricts(district_code)), key=lambda place: place.name)


def postcodes(subdistrict_code: str) -> list[str]:
    """The postcodes used in a subdistrict (most have one, a few several); empty for an unknown code."""
    subdistrict = geothai.subdistrict(subdistrict_code)
    return sorted(subdistrict.postal_codes) if subdistrict is not None else []


@dataclass(frozen=True)
class AddressCodes:
    """The codes behind an address's names, to show the address form filled in again."""

    province: str = ""
    district: str = ""
    subdistrict: str = ""
    postcode: str = ""


@dataclass(frozen=True)
class ResolvedArea:
    """A valid province/district/subdistrict/postcode combination, with the Thai names to store."""

    province: str
    province_code: str
    district: str
    subdistrict: str
    postcode: str


def resolve(province_code: str, district_code: str, subdistrict_code: str, postcode: str) -> ResolvedArea | None:
    """The area for these codes when they fit together in the official lists, else None."""
    address = geothai.address(subdistrict_code) if subdistrict_code.isdigit() else None
    if address is None or address.province.code != province_code or address.district.code != district_code:
        return None
    if postcode not in address.subdistrict.postal_codes:
        return None
    return ResolvedArea(province=address.province.name_th, province_code=address.province.code,
                        district=address.district.name_th, subdistrict=address.subdistrict.name_th,
                        postcode=postcode)


def codes_of(address: dict[str, str]) -> AddressCodes:
    """Find the codes of a stored address again from its province code and Thai names."""
    province_code = address.get("province_code", "")
    district = next((item for item in geothai.districts(province_code)
                     if item.name_th == address.get("district")), None)
    if district is None:
        return AddressCodes(province=province_code if geothai.province(province_code) else "")
    subdistrict = next((item for item in geothai.subdistricts(district.code)
                        if item.name_th == address.get("subdistrict")), None)
    if subdistrict is None:
        return AddressCodes(province=province_code, district=district.code)
    postcode = address.get("postcode", "")
    return AddressCodes(province=province_code, district=district.code, subdistrict=subdistrict.code,
                        postcode=postcode if postcode in subdistrict.postal_codes else "")


def format_area(address: dict[str, str], locale: str) -> str:
    """The subdistrict, district, province and postcode as written on an envelope, in `locale`.

    Thai: `แขวงพระบรมมหาราชวัง เขตพระนคร กรุงเทพมหานคร 10200` in Bangkok,
    `ตำบลตลาด อำเภอเมืองสุราษฎร์ธานี จังหวัดสุราษฎร์ธานี 84000` elsewhere.
    """
    codes = codes_of(address)
    if locale == "en" and codes.subdistrict:
        found = geothai.address(codes.subdistrict)
        if found is not None:
            return (f"{found.subdistrict.name_en}, {found.district.name_en}, {found.province.name_en} "
                    f"{address.get('postcode', '')}").strip()
    subdistrict, district, province = (address.get(key, "") for key in ("subdistrict", "district", "province"))
    if address.get("province_code") == BANGKOK:
        district_words = district if district.startswith("เขต") else f"เขต{district}"
        return f"แขวง{subdistrict} {district_words} {province} {address.get('postcode', '')}".strip()
    return f"ตำบล{subdistrict} อำเภอ{district} จังหวัด{province} {address.get('postcode', '')}".strip()
