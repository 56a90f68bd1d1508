"""Interoperability: FHIR R4 in (Bundle -> patient input) and out (GuidanceResponse + RequestGroup)."""
