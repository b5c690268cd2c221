"""The admin app with our admin site: kept apart from the site itself, which needs the app registry."""

from django.contrib.admin.apps import AdminConfig


class SuperuserAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.SuperuserAdminSite"
