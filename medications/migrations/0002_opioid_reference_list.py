"""Ship the opioid reference list: ingredients with their WHO ATC codes, brands and combination products.

Sources: the clinical reference, "Medications and contraindications"; the WHO ATC/DDD Index (WHO Collaborating
Centre for Drug Statistics Methodology, https://atcddd.fhi.no/atc_ddd_index/); for the N02AJ combination codes,
WHOCC, "ATC classification of combinations of opioids and other analgesics" (22 January 2016). Codes that could
not be confirmed say "verify against WHO ATC/DDD index" in their source. Administrators extend the list in the
admin; the matcher reads it at every check, so an added brand also catches entries already recorded.
"""

from django.db import migrations

WHO_ATC = "WHO ATC/DDD Index (atcddd.fhi.no)"
REFERENCE = "clinical reference, “Medications and contraindications”"
VERIFY = "verify against WHO ATC/DDD index"

AGONIST = "Opioid agonist: naltrexone blocks its analgesia and can precipitate withdrawal."
ANTITUSSIVE = (
    "Opioid, also in cough mixtures and combination analgesics: naltrexone blocks it and can precipitate withdrawal."
)

# (name, ATC code, contraindicates LDN, reason, source, [(alias, kind, alias ATC code)])
INGREDIENTS = [
    (
        "morphine",
        "N02AA01",
        True,
        AGONIST,
        f"{WHO_ATC}: N02AA01; {REFERENCE}.",
        [
            ("MS Contin", "brand", ""),
            ("MST Continus", "brand", ""),
            ("Oramorph", "brand", ""),
            ("Sevredol", "brand", ""),
            ("Zomorph", "brand", ""),
            ("Kadian", "brand", ""),
        ],
    ),
    (
        "codeine",
        "R05DA04",
        True,
        ANTITUSSIVE,
        f"{WHO_ATC}: R05DA04 (plain codeine, as a cough suppressant); N02AJ06 codeine and paracetamol, N02AJ08 "
        f"codeine and ibuprofen (WHOCC 2016); {REFERENCE}.",
        [
            ("co-codamol", "combination", "N02AJ06"),
            ("Tylenol with codeine", "combination", "N02AJ06"),
            ("Tylenol 3", "combination", "N02AJ06"),
            ("Tylenol 4", "combination", "N02AJ06"),
            ("acetaminophen with codeine", "combination", "N02AJ06"),
            ("paracetamol and codeine", "combination", "N02AJ06"),
            ("Kapake", "combination", "N02AJ06"),
            ("Zapain", "combination", "N02AJ06"),
            ("Solpadol", "combination", "N02AJ06"),
            ("Tylex", "combination", "N02AJ06"),
            ("Solpadeine", "combination", "N02AJ06"),
            ("Nurofen Plus", "combination", "N02AJ08"),
            ("Migraleve", "combination", ""),
            ("codeine linctus", "combination", "R05DA04"),
        ],
    ),
    (
        "dihydrocodeine",
        "N02AA08",
        True,
        ANTITUSSIVE,
        f"{WHO_ATC}: N02AA08; N02AJ01 dihydrocodeine and paracetamol (WHOCC 2016); {REFERENCE}.",
        [
            ("co-dydramol", "combination", "N02AJ01"),
            ("DF118", "brand", ""),
            ("DHC Continus", "brand", ""),
            ("Remedeine", "combination", "N02AJ01"),
        ],
    ),
    (
        "oxycodone",
        "N02AA05",
        True,
        AGONIST,
        f"{WHO_ATC}: N02AA05; N02AJ17 oxycodone and paracetamol (WHOCC 2016); N02AA55 oxycodone and naloxone; "
        f"{REFERENCE}.",
        [
            ("OxyContin", "brand", ""),
            ("OxyNorm", "brand", ""),
            ("Roxicodone", "brand", ""),
            ("Xtampza", "brand", ""),
            ("Percocet", "combination", "N02AJ17"),
            ("Endocet", "combination", "N02AJ17"),
            ("Targinact", "combination", "N02AA55"),
            ("Targin", "combination", "N02AA55"),
        ],
    ),
    (
        "hydrocodone",
        "R05DA03",
        True,
        AGONIST,
        f"{WHO_ATC}: R05DA03 (as a cough suppressant); its combinations with paracetamol are in N02AJ, substance "
        f"code to {VERIFY}; {REFERENCE}.",
        [
            ("Vicodin", "combination", ""),
            ("Norco", "combination", ""),
            ("Lortab", "combination", ""),
            ("Hysingla", "brand", ""),
            ("Zohydro", "brand", ""),
            ("Hycodan", "brand", ""),
        ],
    ),
    (
        "hydromorphone",
        "N02AA03",
        True,
        AGONIST,
        f"{WHO_ATC}: N02AA03; {REFERENCE}.",
        [("Dilaudid", "brand", ""), ("Palladone", "brand", ""), ("Exalgo", "brand", "")],
    ),
    (
        "oxymorphone",
        "N02AA11",
        True,
        AGONIST,
        f"{WHO_ATC}: N02AA11 ({VERIFY}); {REFERENCE}.",
        [("Opana", "brand", "")],
    ),
    (
        "tramadol",
        "N02AX02",
        True,
        "Opioid (with serotonin and noradrenaline reuptake inhibition): naltrexone blocks its opioid analgesia "
        "and can precipitate withdrawal.",
        f"{WHO_ATC}: N02AX02; N02AJ13 tramadol and paracetamol (WHOCC 2016); {REFERENCE}.",
        [
            ("Ultram", "brand", ""),
            ("Ultracet", "combination", "N02AJ13"),
            ("Tramacet", "combination", "N02AJ13"),
            ("Zydol", "brand", ""),
            ("Zamadol", "brand", ""),
            ("Marol", "brand", ""),
            ("Maxitram", "brand", ""),
            ("ConZip", "brand", ""),
        ],
    ),
    (
        "tapentadol",
        "N02AX06",
        True,
        "Opioid agonist (with noradrenaline reuptake inhibition): naltrexone blocks its analgesia and can "
        "precipitate withdrawal.",
        f"{WHO_ATC}: N02AX06; {REFERENCE}.",
        [("Palexia", "brand", ""), ("Nucynta", "brand", "")],
    ),
    (
        "fentanyl",
        "N02AB03",
        True,
        AGONIST,
        f"{WHO_ATC}: N02AB03 (N01AH01 as an anaesthetic); {REFERENCE}.",
        [
            ("Duragesic", "brand", ""),
            ("Durogesic", "brand", ""),
            ("Matrifen", "brand", ""),
            ("Actiq", "brand", ""),
            ("Abstral", "brand", ""),
            ("Effentora", "brand", ""),
            ("Fentora", "brand", ""),
            ("Instanyl", "brand", ""),
        ],
    ),
    (
        "buprenorphine",
        "N02AE01",
        True,
        "Partial opioid agonist, also used in opioid dependence: naltrexone blocks it and can precipitate "
        "withdrawal, and its washout is longer.",
        f"{WHO_ATC}: N02AE01; N07BC01 in opioid dependence, N07BC51 buprenorphine combinations; {REFERENCE}.",
        [
            ("Subutex", "brand", "N07BC01"),
            ("Suboxone", "combination", "N07BC51"),
            ("Butrans", "brand", ""),
            ("Transtec", "brand", ""),
            ("Temgesic", "brand", ""),
            ("Espranor", "brand", "N07BC01"),
            ("Buvidal", "brand", "N07BC01"),
            ("Sublocade", "brand", "N07BC01"),
            ("Belbuca", "brand", ""),
        ],
    ),
    (
        "methadone",
        "N07BC02",
        True,
        "Long-acting opioid agonist, also used in opioid dependence: naltrexone blocks it and can precipitate "
        "withdrawal, and its washout is longer.",
        f"{WHO_ATC}: N07BC02; {REFERENCE}.",
        [("Physeptone", "brand", ""), ("Methadose", "brand", ""), ("Dolophine", "brand", "")],
    ),
    (
        "pethidine",
        "N02AB02",
        True,
        AGONIST,
        f"{WHO_ATC}: N02AB02; {REFERENCE}.",
        [("meperidine", "synonym", ""), ("Demerol", "brand", "")],
    ),
    (
        "diamorphine",
        "N07BC06",
        True,
        AGONIST,
        f"{WHO_ATC}: N07BC06 (in opioid dependence); its code as an analgesic in N02AA: {VERIFY}; {REFERENCE}.",
        [("heroin", "synonym", "")],
    ),
    (
        "levorphanol",
        "N02A",
        True,
        AGONIST,
        f"{WHO_ATC}: group N02A (opioids); no substance code found, {VERIFY}; {REFERENCE}.",
        [],
    ),
    (
        "pentazocine",
        "N02AD01",
        True,
        "Mixed opioid agonist-antagonist: naltrexone blocks it and can precipitate withdrawal.",
        f"{WHO_ATC}: N02AD01; {REFERENCE}.",
        [("Talwin", "brand", "")],
    ),
    (
        "pholcodine",
        "R05DA08",
        True,
        "Opioid cough suppressant: treated as an opioid, because naltrexone blocks opioids and can precipitate "
        "withdrawal.",
        f"{WHO_ATC}: R05DA08; {REFERENCE} (opioid antitussives); whether low-dose pholcodine matters with LDN: "
        f"{VERIFY} and a pharmacist.",
        [("pholcodine linctus", "combination", "R05DA08"), ("Galenphol", "brand", ""), ("Pavacol-D", "brand", "")],
    ),
    (
        "loperamide",
        "A07DA03",
        False,
        "Peripherally acting opioid that hardly reaches the brain at usual doses, so it is usually not treated as "
        "a contraindication to LDN.",
        f"{WHO_ATC}: A07DA03 (antipropulsives); {REFERENCE}, which marks the reason as to verify.",
        [("Imodium", "brand", ""), ("Arret", "brand", "")],
    ),
]


def ship(apps, schema_editor):
    ingredient_model = apps.get_model("medications", "OpioidIngredient")
    alias_model = apps.get_model("medications", "OpioidAlias")
    for name, atc_code, is_contraindication, reason, source, aliases in INGREDIENTS:
        ingredient, _ = ingredient_model.objects.get_or_create(
            name=name,
            defaults={
                "atc_code": atc_code,
                "is_contraindication": is_contraindication,
                "reason": reason,
                "source": source,
            },
        )
        for alias, kind, alias_code in aliases:
            alias_model.objects.get_or_create(
                name=alias, defaults={"ingredient": ingredient, "kind": kind, "atc_code": alias_code}
            )


class Migration(migrations.Migration):
    dependencies = [("medications", "0001_initial")]

    operations = [migrations.RunPython(ship, migrations.RunPython.noop)]
