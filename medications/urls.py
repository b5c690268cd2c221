from django.urls import path

from . import views

app_name = "medications"

urlpatterns = [
    path("patients/<int:patient_id>/medications/", views.medication_list, name="list"),
    path("patients/<int:patient_id>/medications/new/", views.medication_create, name="create"),
    path("patients/<int:patient_id>/medications/<int:medication_id>/end/", views.medication_end, name="end"),
    path("patients/<int:patient_id>/medications/<int:medication_id>/void/", views.medication_void, name="void"),
    path("patients/<int:patient_id>/safety/", views.safety_profile, name="safety"),
]
