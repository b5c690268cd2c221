from django.urls import path

from . import outcomes_views, views, worklist_views

app_name = "titration"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("worklist/", worklist_views.worklist_page, name="worklist"),
    path("patients/<int:patient_id>/", views.patient_page, name="patient"),
    path("patients/<int:patient_id>/doses/new/", views.dose_create, name="dose-create"),
    path("patients/<int:patient_id>/doses/log-expected/", worklist_views.log_expected, name="dose-log-expected"),
    path("patients/<int:patient_id>/doses/diary/", views.dose_diary, name="dose-diary"),
    path("patients/<int:patient_id>/doses/<int:entry_id>/void/", views.dose_void, name="dose-void"),
    path("patients/<int:patient_id>/plan/", views.plan_set, name="plan"),
    path("patients/<int:patient_id>/plan/state/", views.plan_state, name="plan-state"),
    path(
        "patients/<int:patient_id>/flags/acknowledge-info/", views.flags_acknowledge_info, name="flags-acknowledge-info"
    ),
    path("patients/<int:patient_id>/checkins/new/", views.checkin_create, name="checkin-create"),
    path("patients/<int:patient_id>/checkins/<int:checkin_id>/void/", views.checkin_void, name="checkin-void"),
    path("patients/<int:patient_id>/export.csv", views.patient_export, name="export"),
    path("patients/<int:patient_id>/history/", views.patient_history, name="history"),
    path("patients/<int:patient_id>/schedule/", views.patient_schedule, name="schedule"),
    path("outcomes/", outcomes_views.outcomes_page, name="outcomes"),
    path("outcomes/research-export.csv", outcomes_views.research_export, name="outcomes-export"),
    path("flags/", views.flag_queue, name="flags"),
    path("flags/<int:flag_id>/acknowledge/", views.flag_acknowledge, name="flag-acknowledge"),
    path("flags/<int:flag_id>/comment/", views.flag_comment, name="flag-comment"),
]
