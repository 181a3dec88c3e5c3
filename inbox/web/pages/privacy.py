"""The public privacy notice at `/integritet` (GDPR art. 13), in Swedish or English (`?lang=en`).

No sign-in; the same look, CSP and accessibility as the other public pages. What the organisation
must say about itself — the controller, how to reach it and its data protection officer, how long
cases are kept, anything more — comes from its settings (`PrivacyNotice`); the rest is the same
for every installation, since it follows from what Synpunkt does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from inbox.core.privacy import PRIVACY_PATH, PrivacyNotice
from inbox.web.render import env
from inbox.web.state import Notice

router = APIRouter(tags=["public"], include_in_schema=False)
IMY = "https://www.imy.se/"


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()
    after: tuple[str, ...] = ()  # paragraphs after the bullets
    link: tuple[str, str] | None = None  # (text, address) at the end


def _sv(n: PrivacyNotice) -> tuple[str, str, list[Section]]:
    contact = f" Du når oss så här: {n.controller_contact}" if n.controller_contact else ""
    dpo = (
        f"Du kan kontakta vårt dataskyddsombud med frågor om hur vi behandlar personuppgifter: "
        f"{n.dpo_contact}"
        if n.dpo_contact
        else f"Kontaktuppgifter till vårt dataskyddsombud får du från {n.controller}."
    )
    retention = n.retention or (
        "Uppgifterna bevaras så länge arkivlagen och vår dokumenthanteringsplan kräver och "
        "gallras sedan. Statistik som inte pekar ut någon sparas."
    )
    sections = [
        Section(
            "Vem som ansvarar",
            (f"{n.controller} är personuppgiftsansvarig.{contact}", dpo),
        ),
        Section(
            "Varför vi behandlar uppgifterna",
            ("Vi använder uppgifterna för att",),
            (
                "registrera det du skriver till oss och hålla ordning på ärendet",
                "besvara dig och utreda klagomål",
                "förbättra verksamheten med hjälp av synpunkter",
                "fråga dig efter ett beslut hur det har fungerat för dig, om du får en sådan fråga",
                "ta fram statistik där ingen enskild kan pekas ut.",
            ),
        ),
        Section(
            "Med vilken rätt",
            (
                "Vi behandlar uppgifterna för att utföra en uppgift av allmänt intresse "
                "(artikel 6.1 e i dataskyddsförordningen). Uppgiften följer av bland annat "
                "socialtjänstlagen, förvaltningslagen och offentlighets- och sekretesslagen: vi "
                "ska ta emot och utreda klagomål och synpunkter, ge service och registrera "
                "allmänna handlingar. Om du berättar om hälsa eller andra känsliga förhållanden "
                "behandlar vi det bara när det behövs för att handlägga ärendet (3 kap. 3 § "
                "lagen med kompletterande bestämmelser till EU:s dataskyddsförordning).",
            ),
        ),
        Section(
            "Vilka uppgifter",
            (
                "Det du själv skriver och skickar, ditt namn och din e-postadress, ditt "
                "telefonnummer eller ditt Telegramkonto om du använder dem, och det vi antecknar "
                "när vi handlägger ärendet. Du får vara anonym, men då kan vi inte svara dig.",
            ),
        ),
        Section(
            "Allmän handling och sekretess",
            (
                "Det du skickar till oss blir en allmän handling när det kommer in. Vem som helst "
                "får begära att ta del av allmänna handlingar, men uppgifter om enskildas "
                "personliga förhållanden i socialtjänsten skyddas av sekretess. Innan vi lämnar "
                "ut något prövar vi om det omfattas av sekretess.",
            ),
        ),
        Section(
            "Vem som får ta del av uppgifterna",
            (
                "De medarbetare som behöver uppgifterna för att handlägga ärendet. Andra "
                "myndigheter, till exempel Inspektionen för vård och omsorg (IVO), får uppgifter "
                "när lagen kräver det. Företag som driver våra it-system behandlar uppgifter för "
                "vår räkning och får inte använda dem till något annat.",
                "Skriver du till oss i Telegram går meddelandena via Telegrams servrar, som kan "
                "finnas utanför EU, och Telegram behandlar dem enligt sina egna villkor. Vill du "
                "inte det kan du skriva e-post eller ringa oss i stället.",
            ),
        ),
        Section("Hur länge uppgifterna sparas", (retention,)),
        Section(
            "Dina rättigheter",
            ("Du har rätt att",),
            (
                "få veta vilka uppgifter vi har om dig och få en kopia av dem (artikel 15)",
                "få felaktiga uppgifter rättade (artikel 16)",
                "begära att behandlingen begränsas (artikel 18) och invända mot den (artikel 21)",
                "begära att uppgifter raderas (artikel 17). Allmänna handlingar får vi bara "
                "gallra enligt arkivlagen och våra beslut om gallring, så vi kan inte alltid "
                "radera dem.",
            ),
            (
                f"Kontakta {n.controller} eller dataskyddsombudet om du vill använda dina "
                "rättigheter. Vi fattar inga beslut om dig som bara bygger på automatisk "
                "behandling.",
            ),
        ),
        Section(
            "Om du vill klaga",
            (
                "Om du tycker att vi behandlar dina personuppgifter på fel sätt kan du klaga hos "
                "Integritetsskyddsmyndigheten (IMY).",
            ),
            link=("Integritetsskyddsmyndigheten, imy.se", IMY),
        ),
    ]
    if n.more:
        sections.append(Section("Mer information", tuple(_paragraphs(n.more))))
    return "Så behandlar vi dina personuppgifter", "Hoppa till innehållet", sections


def _en(n: PrivacyNotice) -> tuple[str, str, list[Section]]:
    contact = f" You can reach us like this: {n.controller_contact}" if n.controller_contact else ""
    dpo = (
        f"You can contact our data protection officer with questions about how we handle "
        f"personal data: {n.dpo_contact}"
        if n.dpo_contact
        else f"{n.controller} can give you the contact details of our data protection officer."
    )
    retention = n.retention or (
        "The data is kept as long as the Archives Act and our records management plan require, "
        "and is then disposed of. Statistics that identify no one are kept."
    )
    sections = [
        Section(
            "Who is responsible",
            (f"{n.controller} is the controller of your personal data.{contact}", dpo),
        ),
        Section(
            "Why we process the data",
            ("We use the data to",),
            (
                "register what you write to us and keep track of the case",
                "answer you and look into complaints",
                "improve our services with the help of feedback",
                "ask you after a decision how it worked for you, if you get such a question",
                "produce statistics in which no individual can be identified.",
            ),
        ),
        Section(
            "Our legal basis",
            (
                "We process the data to perform a task carried out in the public interest "
                "(Article 6(1)(e) of the General Data Protection Regulation). The task follows "
                "from the Social Services Act, the Administrative Procedure Act and the Public "
                "Access to Information and Secrecy Act, among others: we must receive and look "
                "into complaints and feedback, give service and register public documents. If "
                "you tell us about your health or other sensitive matters, we process that only "
                "when it is needed to handle the case (Chapter 3, Section 3 of the Swedish Data "
                "Protection Act).",
            ),
        ),
        Section(
            "What data",
            (
                "What you write and send yourself, your name and your email address, phone "
                "number or Telegram account if you use them, and the notes we make when handling "
                "the case. You may stay anonymous, but then we cannot answer you.",
            ),
        ),
        Section(
            "Public documents and secrecy",
            (
                "What you send us becomes a public document (allmän handling) when it reaches "
                "us. Anyone may ask to see public documents, but information about individuals' "
                "personal circumstances in social services is protected by secrecy. Before we "
                "release anything, we examine whether it is secret.",
            ),
        ),
        Section(
            "Who receives the data",
            (
                "The staff who need the data to handle the case. Other authorities, such as the "
                "Health and Social Care Inspectorate (IVO), receive data when the law requires "
                "it. Companies that run our IT systems process data on our behalf and may not "
                "use it for anything else.",
                "If you write to us on Telegram, the messages pass through Telegram's servers, "
                "which may be outside the EU, and Telegram processes them under its own terms. "
                "If you do not want that, you can email or call us instead.",
            ),
        ),
        Section("How long the data is kept", (retention,)),
        Section(
            "Your rights",
            ("You have the right to",),
            (
                "know what data we hold about you and get a copy of it (Article 15)",
                "have incorrect data corrected (Article 16)",
                "ask us to restrict the processing (Article 18) and object to it (Article 21)",
                "ask us to erase data (Article 17). Public documents may only be disposed of "
                "under the Archives Act and our disposal decisions, so we cannot always erase "
                "them.",
            ),
            (
                f"Contact {n.controller} or the data protection officer to use your rights. We "
                "make no decisions about you based solely on automated processing.",
            ),
        ),
        Section(
            "If you want to complain",
            (
                "If you think we handle your personal data wrongly, you can complain to the "
                "Swedish Authority for Privacy Protection (IMY).",
            ),
            link=("The Swedish Authority for Privacy Protection, imy.se", IMY),
        ),
    ]
    if n.more:
        sections.append(Section("More information", tuple(_paragraphs(n.more))))
    return "How we handle your personal data", "Skip to the content", sections


def _paragraphs(text: str) -> list[str]:
    """The organisation's own text, as paragraphs (separated by blank lines); shown as text."""
    return [" ".join(p.split()) for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]


@router.get(PRIVACY_PATH, response_class=HTMLResponse)
async def privacy_page(
    notice: Notice,
    lang: Annotated[str, Query(max_length=8)] = "sv",
) -> HTMLResponse:
    language = "en" if lang == "en" else "sv"
    title, skip, sections = (_en if language == "en" else _sv)(notice)
    html = env.get_template("public/privacy.html").render(
        lang=language,
        t={"skip": skip},
        title=title,
        sections=sections,
        other=(
            ("sv", PRIVACY_PATH, "På svenska")
            if language == "en"
            else ("en", PRIVACY_PATH + "?lang=en", "In English")
        ),
    )
    return HTMLResponse(html)
