"""Code tables used to read FHIR R4 data.

Only codes marked verified (V) in the project's standards reference are used, plus the LOINC codes the
knowledge base itself marks `loinc_verified`. Everything else must arrive under one of the clearly labelled
local code systems below (whose codes are RPL Navigator ids), or it is reported as not used.
"""

from __future__ import annotations

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
UCUM = "http://unitsofmeasure.org"

# Local code systems (not standard terminologies): the code is the RPL Navigator id.
LOCAL_TEST = "urn:rplnav:codes:test"                    # e.g. anticardiolipin_igg
LOCAL_THERAPY = "urn:rplnav:codes:therapy"              # e.g. ivig
LOCAL_CONDITION = "urn:rplnav:codes:condition"          # e.g. sle
LOCAL_FINDING = "urn:rplnav:codes:finding"              # e.g. uterus=septate, thrombosis=venous
LOCAL_OUTCOME = "urn:rplnav:codes:pregnancy-outcome"    # e.g. miscarriage, live_birth, current
LOCAL_CURRENT = "urn:rplnav:codes:current-pregnancy"    # components: intrauterine_confirmed, ...
EXT_GA = "urn:rplnav:fhir:extension:gestational-age"    # valueString "6+5" or valueQuantity (wk or d)
EXT_DETAIL = "urn:rplnav:fhir:extension:detail"          # sub-extensions: url = patient-model field name
EXT_PREGNANCY = "urn:rplnav:fhir:extension:pregnancy"    # on a medication: valueReference to the pregnancy

# LOINC (status V): lupus anticoagulant panels / interpretation, HbA1c.
LOINC_V: dict[str, str] = {
    "75515-7": "lupus_anticoagulant",   # LA two screening tests w reflex panel
    "75881-3": "lupus_anticoagulant",   # LA 3-test reflex panel
    "75514-0": "lupus_anticoagulant",   # LA two-screen interpretation
    "4548-4": "hba1c",
}

# RxNorm (status V): ingredient or clinical-drug codes -> therapy id.
RXNORM_V: dict[str, str] = {
    "243670": "aspirin", "252857": "aspirin",                          # aspirin 81 mg tablet / capsule
    "67108": "lmwh", "854235": "lmwh", "854228": "lmwh", "854238": "lmwh", "854241": "lmwh",  # enoxaparin
    "5224": "lmwh",                                                      # heparin (ingredient)
    "5521": "hydroxychloroquine", "979092": "hydroxychloroquine", "153972": "hydroxychloroquine",
    "198142": "prednisolone", "429199": "prednisolone",                 # prednisolone 5 / 20 mg
    "198145": "prednisolone", "198144": "prednisolone", "198146": "prednisolone", "198148": "prednisolone",
    "198377": "calcineurin_inhibitor",                                   # tacrolimus 1 mg
    "727757": "anti_tnf", "253014": "anti_tnf",                          # etanercept
}

# SNOMED CT (status V) for pregnancy events.
SNOMED_OUTCOME_V: dict[str, str] = {"17369002": "miscarriage"}

# Diagnoses that are understood but deliberately not taken as input: the engine recomputes them.
DIAGNOSIS_RECOMPUTED: dict[tuple[str, str], str] = {
    (SNOMED, "102878001"): "recurrent miscarriage diagnosis; RPL is recounted from the individual losses",
    (SNOMED, "199087006"): "habitual aborter finding; RPL is recounted from the individual losses",
    (SNOMED, "199088001"): "habitual aborter finding; RPL is recounted from the individual losses",
    (SNOMED, "237036002"): "habitual aborter finding; RPL is recounted from the individual losses",
    (SNOMED, "134781000119106"): "high-risk pregnancy due to recurrent miscarriage; losses are recounted",
    (SNOMED, "72161000119100"): "APS diagnosis; APS is reclassified from aPL results and history",
    ("icd10", "N96"): "recurrent pregnancy loss diagnosis; RPL is recounted from the individual losses",
    ("icd10", "O26.20"): "pregnancy care for RPL; losses are recounted",
    ("icd10", "O26.21"): "pregnancy care for RPL; losses are recounted",
    ("icd10", "O26.22"): "pregnancy care for RPL; losses are recounted",
    ("icd10", "O26.23"): "pregnancy care for RPL; losses are recounted",
    ("icd10", "D68.61"): "APS diagnosis; APS is reclassified from aPL results and history",
    ("icd10", "D68.62"): "lupus anticoagulant syndrome; APS is reclassified from aPL results and history",
    (SNOMED, "441697004"): "thrombophilia in pregnancy, type not stated; give the thrombophilia results",
    (SNOMED, "54130005"): "septum resection already done; the patient model has no field for a resected septum",
}

# ICD-10-CM (status V) that map onto the patient model: (path, value).
ICD10_V: dict[str, tuple[str, object]] = {
    "D68.59": ("conditions", "thrombophilia_inherited"),   # other primary thrombophilia
    "N71.1": ("findings.chronic_endometritis", True),      # chronic inflammatory disease of uterus
}

# Unit spellings (UCUM codes and common variants) -> the knowledge base's unit names.
UNIT_ALIASES: dict[str, str] = {
    "[GPL'U]": "GPL", "[GPL'U]/mL": "GPL", "GPL U/mL": "GPL", "GPL/mL": "GPL",
    "[MPL'U]": "MPL", "[MPL'U]/mL": "MPL", "MPL U/mL": "MPL", "MPL/mL": "MPL",
    "U/ml": "U/mL", "[U]/mL": "U/mL", "m[IU]/L": "mIU/L", "mIU/l": "mIU/L", "u[IU]/mL": "uIU/mL",
    "[iU]/mL": "IU/mL", "[IU]/mL": "IU/mL", "k[IU]/L": "kIU/L", "10*9/L": "x10^9/L", "10*3/uL": "x10^3/uL",
    "ug/L": "ug/L", "umol/L": "umol/L", "nmol/l": "nmol/L", "ng/ml": "ng/mL", "pmol/l": "pmol/L",
}
