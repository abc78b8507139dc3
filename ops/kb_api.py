"""`/api/v1/kb/`: knowledge-base articles; `?q=` searches (ranked), `?category=`
and `?tag=` filter. Everyone signed in reads what they may (see ops.kb); staff write."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from ops import kb
from ops.access import IsStaff
from ops.models import Article


class ArticleSerializer(serializers.ModelSerializer):
    # Names in and out (the category is made on first use); see to_representation.
    category = serializers.CharField(max_length=80, allow_blank=True, required=False, write_only=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=40), required=False, write_only=True)
    stale = serializers.SerializerMethodField()
    review_due = serializers.SerializerMethodField()
    rank = serializers.SerializerMethodField()
    snippet = serializers.SerializerMethodField()

    class Meta:
        model = Article
        fields = [
            "id",
            "title",
            "slug",
            "summary",
            "body",
            "body_html",
            "category",
            "tags",
            "visibility",
            "status",
            "created_at",
            "updated_at",
            "reviewed_at",
            "review_every_days",
            "review_due",
            "stale",
            "view_count",
            "helpful_count",
            "not_helpful_count",
            "rank",
            "snippet",
        ]
        read_only_fields = [
            "slug",
            "body_html",
            "created_at",
            "updated_at",
            "reviewed_at",
            "view_count",
            "helpful_count",
            "not_helpful_count",
        ]

    def to_representation(self, instance: Article) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["tags"] = [t.name for t in instance.tags.all()]
        data["category"] = instance.category.name if instance.category else ""
        return data

    def get_stale(self, article: Article) -> bool:
        return article.is_stale()

    def get_review_due(self, article: Article) -> str:
        return article.review_due().isoformat()

    def get_rank(self, article: Article) -> float | None:
        rank = getattr(article, "rank", None)
        return round(float(rank), 4) if rank is not None else None

    def get_snippet(self, article: Article) -> str:
        q = self.context.get("q", "")
        return kb.snippet(article, q) if q else article.summary


class VoteSerializer(serializers.Serializer):
    helpful = serializers.BooleanField()


Q_PARAM = OpenApiParameter("q", str, description='Search words (PostgreSQL web-search syntax: "phrase", -word, or)')


@extend_schema_view(
    list=extend_schema(
        parameters=[Q_PARAM, OpenApiParameter("category", str), OpenApiParameter("tag", str)],
        summary="Knowledge-base articles, best match first when searching",
    )
)
class ArticleViewSet(viewsets.ModelViewSet):
    serializer_class = ArticleSerializer
    permission_classes = [IsAuthenticated]

    def get_permissions(self) -> list[Any]:
        if self.action in ("create", "update", "partial_update", "destroy", "reviewed"):
            return [IsStaff()]
        return super().get_permissions()

    def get_queryset(self) -> Any:
        articles = kb.visible_to(self.request.user)
        params = self.request.query_params
        if params.get("category"):
            articles = articles.filter(category__slug=params["category"])
        if params.get("tag"):
            articles = articles.filter(tags__name=params["tag"])
        if self.action == "list" and params.get("q"):
            return kb.search(articles, params["q"])
        return articles.order_by("title")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "q": self.request.query_params.get("q", "")}

    def _save(self, serializer: serializers.Serializer, article: Article | None) -> Article:
        data = {**(serializer.validated_data or {})}
        category = data.pop("category", None)
        current = article
        fields = {
            "title": data.get("title", current.title if current else ""),
            "body": data.get("body", current.body if current else ""),
            "summary": data.get("summary", current.summary if current else ""),
            "tags": data.get("tags", [t.name for t in current.tags.all()] if current else []),
            "visibility": data.get("visibility", current.visibility if current else Article.Visibility.STAFF),
            "status": data.get("status", current.status if current else Article.Status.PUBLISHED),
            "review_every_days": data.get("review_every_days", current.review_every_days if current else None),
        }
        if category is not None:
            fields["category"] = kb.category_for(category)
        elif current is not None:
            fields["category"] = current.category
        try:
            return kb.article_save(article=article, user=self.request.user, **fields)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from exc

    def perform_create(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self._save(serializer, None)

    def perform_update(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self._save(serializer, serializer.instance)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        article = self.get_object()
        kb.article_viewed(article=article)
        return Response(self.get_serializer(article).data)

    @extend_schema(request=VoteSerializer, responses=ArticleSerializer, summary="Was this helpful? (one vote per user)")
    @action(detail=True, methods=["post"])
    def vote(self, request: Request, pk: str | None = None) -> Response:
        article = self.get_object()
        serializer = VoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kb.article_vote(article=article, user=request.user, helpful=serializer.validated_data["helpful"])
        article.refresh_from_db()
        return Response(self.get_serializer(article).data)

    @extend_schema(request=None, responses=ArticleSerializer, summary="Mark as reviewed (still true) now")
    @action(detail=True, methods=["post"])
    def reviewed(self, request: Request, pk: str | None = None) -> Response:
        article = kb.article_mark_reviewed(article=self.get_object(), user=request.user)
        return Response(self.get_serializer(article).data)
