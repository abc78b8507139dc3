from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from analytics import urls as analytics_urls
from learning import urls as learning_urls
from lms import api, views
from ops import urls as ops_urls

api_v1 = [
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    path("auth/me/", api.MeView.as_view(), name="api-me"),
    *learning_urls.api_urlpatterns,
    *analytics_urls.api_urlpatterns,
    *ops_urls.api_urlpatterns,
]

urlpatterns = [
    path("", views.home, name="home"),
    # Browsers ask for /favicon.ico whatever the page says; the icon is the static SVG.
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/signup/confirm/<str:token>/", views.signup_confirm, name="signup_confirm"),
    path("accounts/profile/", views.profile, name="profile"),
    path("accounts/tokens/", views.token_list, name="token_list"),
    path("accounts/data/", views.my_data, name="my_data"),
    path("accounts/data/export/", views.data_export_new, name="data_export_new"),
    path("accounts/data/export/<int:export_id>/download/", views.data_export_download, name="data_export_download"),
    path("accounts/delete/", views.account_delete, name="account_delete"),
    path("privacy/", views.privacy_policy, name="privacy"),
    path("accounts/tokens/<int:token_id>/revoke/", views.token_revoke_view, name="token_revoke"),
    path("accounts/tokens/revoke-all/", views.token_revoke_all_view, name="token_revoke_all"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("audit/", views.audit_log, name="audit_log"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("", include("django_prometheus.urls")),
    *ops_urls.health_urlpatterns,
    path("", include(learning_urls)),
    path("analytics/", include(analytics_urls)),
    *analytics_urls.public_urlpatterns,
    path("ops/", include(ops_urls)),
]

# Card media are never served from MEDIA_URL: learning's card_image/card_audio
# views check that the viewer may see the card first.

handler400 = "lms.views.bad_request"
handler403 = "lms.views.permission_denied"
handler404 = "lms.views.page_not_found"
handler500 = "lms.views.server_error"
