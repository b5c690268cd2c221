from django.urls import path

from . import views

app_name = "patients"

urlpatterns = [
    path("patients/", views.patient_list, name="list"),
    path("patients/new/", views.patient_create, name="create"),
    path("patients/<int:patient_id>/edit/", views.patient_edit, name="edit"),
    path("patients/<int:patient_id>/access.csv", views.access_log_csv, name="access-csv"),
    path("audit/access/", views.access_log, name="access-log"),
    path("clinics/<int:clinic_id>/settings/", views.clinic_settings, name="clinic-settings"),
]
