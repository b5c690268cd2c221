from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.overview, name="two-factor"),
    path("setup/", views.setup, name="two-factor-setup"),
    path("verify/", views.verify, name="two-factor-verify"),
    path("disable/", views.disable, name="two-factor-disable"),
    path("recovery-codes/", views.recovery_codes, name="two-factor-recovery-codes"),
]
