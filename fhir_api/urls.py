from django.urls import path, re_path

from . import views

app_name = "fhir"

urlpatterns = [
    path("fhir/metadata", views.metadata, name="metadata"),
    path("fhir/.well-known/smart-configuration", views.smart_configuration, name="smart-configuration"),
    path("fhir/auth/token", views.token, name="token"),
    path("fhir/Patient/<int:patient_id>/$everything", views.everything, name="everything"),
    path("fhir/<str:resource_type>", views.search, name="search"),
    path("fhir/<str:resource_type>/<str:resource_id>", views.read, name="read"),
    # Any other address under /fhir/ answers as the API does: an OperationOutcome, not an HTML page.
    re_path(r"^fhir/", views.not_found),
    path("patients/<int:patient_id>/export.fhir.json", views.download, name="download"),
]
