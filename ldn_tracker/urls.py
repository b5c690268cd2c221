from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import views as account_views

# A request with a bad Host header is refused before sign-in is looked at: see the view.
handler400 = "accounts.views.bad_request"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/two-factor/", include("accounts.urls")),
    path("", include("fhir_api.urls")),
    path("", include("titration.urls")),
    path("", include("medications.urls")),
    path("", include("patients.urls")),
    path("", include("importer.urls")),
]
