from django.urls import path

from . import views

app_name = "titration"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("patients/<int:patient_id>/", views.patient_page, name="patient"),
    path("patients/<int:patient_id>/doses/new/", views.dose_create, name="dose-create"),
    path("patients/<int:patient_id>/doses/<int:entry_id>/void/", views.dose_void, name="dose-void"),
    path("patients/<int:patient_id>/plan/", views.plan_set, name="plan"),
    path("flags/", views.flag_queue, name="flags"),
    path("flags/<int:flag_id>/acknowledge/", views.flag_acknowledge, name="flag-acknowledge"),
]
