"""The business form. The address lists are filled from the official data by the view.

Without JavaScript, the "Update the address lists" button sends the form back
with the lists below the chosen province (or district, subdistrict) filled in;
with JavaScript, `static/js/address.js` fills them as soon as a choice changes.
The rules live in `services`; this form only renders fields and checks CSRF.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, SelectChoice, SelectField, StringField, SubmitField, TelField

from .addresses import Place
from .models import KIND_LABELS, BusinessKind
from .services import BusinessData

ADDRESS_FIELDS = ("house_no", "building", "moo", "village", "soi", "road")


def _choices(prompt: str, places: list[Place]) -> list[SelectChoice]:
    return [SelectChoice("", prompt)] + [SelectChoice(place.code, place.name) for place in places]


class BusinessForm(FlaskForm):
    """A business profile: who it is, its number, its names, its address and contacts."""

    kind = RadioField(_l("The business is run by"),
                      choices=[SelectChoice(kind.value, KIND_LABELS[kind]) for kind in BusinessKind],
                      default=BusinessKind.INDIVIDUAL.value, validate_choice=False)
    tax_id = StringField(_l("Citizen ID or juristic-person registration number"),
                         description=_l("13 digits. An individual gives the citizen ID; a company or partnership "
                                        "gives its registration number, which starts with 0."))
    name_th = StringField(_l("Name in Thai"), description=_l("The person's full name, or the registered name "
                                                            "of the company."))
    name_en = StringField(_l("Name in English (optional)"))
    house_no = StringField(_l("House number"))
    building = StringField(_l("Building, floor, room (optional)"))
    moo = StringField(_l("Moo (village number, optional)"))
    village = StringField(_l("Village or housing estate (optional)"))
    soi = StringField(_l("Soi (optional)"))
    road = StringField(_l("Road (optional)"))
    province = SelectField(_l("Province"), validate_choice=False)
    district = SelectField(_l("District (amphoe / khet)"), validate_choice=False)
    subdistrict = SelectField(_l("Subdistrict (tambon / khwaeng)"), validate_choice=False)
    postcode = SelectField(_l("Postcode"), validate_choice=False)
    phone = TelField(_l("Phone number"))
    email = EmailField(_l("Business e-mail (optional)"))
    update_lists = SubmitField(_l("Update the address lists"))
    save = SubmitField(_l("Save the business"))

    def set_choices(self, provinces: list[Place], districts: list[Place], subdistricts: list[Place],
                    postcodes: list[str]) -> None:
        """Offer these places in the four address lists, each after a "choose" entry."""
        self.province.choices = _choices(str(_l("Choose a province")), provinces)
        self.district.choices = _choices(str(_l("Choose a district")), districts)
        self.subdistrict.choices = _choices(str(_l("Choose a subdistrict")), subdistricts)
        self.postcode.choices = _choices(str(_l("Choose a postcode")), [Place(code, code) for code in postcodes])

    def data_for_service(self) -> BusinessData:
        """What was entered, as the service reads it."""
        return BusinessData(
            kind=self.kind.data or "", tax_id=self.tax_id.data or "", name_th=self.name_th.data or "",
            name_en=self.name_en.data or "",
            address={name: getattr(self, name).data or "" for name in ADDRESS_FIELDS},
            province_code=self.province.data or "", district_code=self.district.data or "",
            subdistrict_code=self.subdistrict.data or "", postcode=self.postcode.data or "",
            phone=self.phone.data or "", email=self.email.data or "")

    def fill_from(self, data: BusinessData) -> None:
        """Show stored data (the edit page's first view)."""
        self.kind.data = data.kind
        self.tax_id.data = data.tax_id
        self.name_th.data = data.name_th
        self.name_en.data = data.name_en
        for name in ADDRESS_FIELDS:
            getattr(self, name).data = data.address.get(name, "")
        self.province.data = data.province_code
        self.district.data = data.district_code
        self.subdistrict.data = data.subdistrict_code
        self.postcode.data = data.postcode
        self.phone.data = data.phone
        self.email.data = data.email
