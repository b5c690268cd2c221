"""Registering an EHR as a FHIR client: the administrator chooses its clinic and scopes and sees its secret once."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .models import FhirClient
from .scopes import SCOPES


class ScopesField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=[(scope, f"{scope} — {text}") for scope, text in SCOPES.items()], **kwargs)


class FhirClientRegisterForm(forms.ModelForm):
    name = forms.CharField(max_length=100, help_text="The system's name, e.g. “North EHR”; shown in the access log.")
    scope_choices = ScopesField(label="Scopes", help_text="What it may read. system/*.read is every type.")

    class Meta:
        model = FhirClient
        fields = ["clinic"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if services.account_username(name) == services.ACCOUNT_PREFIX or services.client_name_taken(name):
            raise forms.ValidationError(services.CLIENT_NAME_TAKEN)
        return name


class FhirClientChangeForm(forms.ModelForm):
    scope_choices = ScopesField(label="Scopes")

    class Meta:
        model = FhirClient
        fields = ["is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["scope_choices"] = self.instance.scope_list

    def save(self, commit: bool = True) -> FhirClient:
        self.instance.scopes = " ".join(self.cleaned_data["scope_choices"])
        return super().save(commit)


@admin.register(FhirClient)
class FhirClientAdmin(SimpleHistoryAdmin):
    list_display = ["name", "clinic", "scopes", "is_active", "created_at"]
    list_filter = ["clinic", "is_active"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = FhirClientChangeForm if obj is not None else FhirClientRegisterForm
        kwargs["fields"] = None
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [(None, {"fields": ["name", "clinic", "scope_choices"]})]
        return [(None, {"fields": ["client_name", "clinic", "client_id", "account", "scope_choices", "is_active"]})]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["client_name", "clinic", "client_id", "account"] if obj is not None else []

    @admin.display(description="name")
    def client_name(self, obj: FhirClient) -> str:
        return obj.name

    @admin.display(description="client id")
    def client_id(self, obj: FhirClient) -> str:
        return obj.application.client_id

    def save_model(self, request: HttpRequest, obj: FhirClient, form: Any, change: bool) -> None:
        if change:
            obj._history_user = request.user  # type: ignore[attr-defined]  # simple-history's hook, undeclared
            super().save_model(request, obj, form, change)
            return
        client, secret = services.fhir_client_register(
            name=form.cleaned_data["name"],
            clinic=form.cleaned_data["clinic"],
            scopes=form.cleaned_data["scope_choices"],
            by=request.user,
        )
        # The admin goes on with ``obj`` (its log entry, the page after saving): make it the registered client.
        obj.__dict__.update({k: v for k, v in client.__dict__.items() if k != "_state"})
        obj._state.adding = False
        obj.issued_secret = secret  # type: ignore[attr-defined]  # for response_add only; never stored

    def response_add(self, request: HttpRequest, obj: FhirClient, post_url_continue: str | None = None) -> HttpResponse:
        """The client id and secret, shown this once: only a hash of the secret is kept."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "FHIR client registered",
            "client": obj,
            "client_id": obj.application.client_id,
            "client_secret": obj.issued_secret,  # type: ignore[attr-defined]  # set by save_model just before
        }
        return TemplateResponse(request, "admin/fhir_api/fhirclient/registered.html", context)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
