"""Activities around an opportunity: journals, tasks, appointments, documents and e-mails.

One table for the five kinds, so the timeline is one indexed scan per opportunity; each kind
uses its own columns, and check constraints keep the others empty.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import BigId, CreatedAt, UpdatedAt
from app.db import Base

KINDS = ("JOURNAL", "TASK", "APPOINTMENT", "DOCUMENT", "EMAIL")


class Activity(Base):
    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('JOURNAL', 'TASK', 'APPOINTMENT', 'DOCUMENT', 'EMAIL')", name="kind"
        ),
        CheckConstraint("kind <> 'TASK' OR status IN ('OPEN', 'DONE', 'CANCELLED')", name="status"),
        CheckConstraint(
            "kind <> 'APPOINTMENT' OR (starts_at IS NOT NULL AND ends_at > starts_at)",
            name="appointment_times",
        ),
        CheckConstraint(
            "kind <> 'EMAIL' OR direction IN ('INBOUND', 'OUTBOUND')", name="direction"
        ),
        # The timeline: newest first per opportunity.
        Index(
            "ix_activities_timeline",
            "opportunity_id",
            text("occurred_at DESC"),
            text("id DESC"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index(
            "ix_activities_open_tasks",
            "assignee_id",
            "due_at",
            postgresql_where=text("kind = 'TASK' AND status = 'OPEN' AND deleted_at IS NULL"),
        ),
        Index(
            "ix_activities_appointments",
            "starts_at",
            postgresql_where=text("kind = 'APPOINTMENT' AND deleted_at IS NULL"),
        ),
        # The same e-mail logged twice on an opportunity is stored once there. One e-mail
        # may concern several deals, so each opportunity may hold its own copy.
        Index(
            "uq_activities_message_id",
            "opportunity_id",
            "message_id",
            unique=True,
            postgresql_where=text("message_id IS NOT NULL AND deleted_at IS NULL"),
        ),
    )

    id: Mapped[BigId]
    opportunity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("opportunities.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(12))
    created_by_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="RESTRICT")
    )
    # Where the activity stands on the timeline.
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Journal: title and body (PLAIN or MARKDOWN).
    title: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    body_format: Mapped[str | None] = mapped_column(String(8))
    # Task: title, body as description, and these.
    assignee_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="RESTRICT")
    )
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    priority: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str | None] = mapped_column(String(10))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="RESTRICT")
    )
    # Appointment: title as subject, body as notes, and these.
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    location: Mapped[str | None] = mapped_column(String(500))
    # E-mail: title as subject, body, and these.
    direction: Mapped[str | None] = mapped_column(String(8))
    from_address: Mapped[str | None] = mapped_column(String(320))
    to_addresses: Mapped[list[str] | None] = mapped_column(ARRAY(String(320)))
    cc_addresses: Mapped[list[str] | None] = mapped_column(ARRAY(String(320)))
    message_id: Mapped[str | None] = mapped_column(String(998))
    # Document: title as file name, and these (content in document_contents).
    content_type: Mapped[str | None] = mapped_column(String(200))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))


class ActivityLink(Base):
    """An activity also filed under a company or contact of its opportunity."""

    __tablename__ = "activity_links"
    __table_args__ = (
        CheckConstraint("num_nonnulls(company_id, contact_id) = 1", name="one_target"),
        Index(
            "uq_activity_links",
            "activity_id",
            text("coalesce(company_id, 0)"),
            text("coalesce(contact_id, 0)"),
            unique=True,
        ),
        Index(
            "ix_activity_links_company",
            "company_id",
            postgresql_where=text("company_id IS NOT NULL"),
        ),
        Index(
            "ix_activity_links_contact",
            "contact_id",
            postgresql_where=text("contact_id IS NOT NULL"),
        ),
    )

    id: Mapped[BigId]
    activity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("companies.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE")
    )


class AppointmentAttendee(Base):
    __tablename__ = "appointment_attendees"
    __table_args__ = (
        CheckConstraint("num_nonnulls(user_id, contact_id) = 1", name="one_attendee"),
        Index(
            "uq_appointment_attendees",
            "activity_id",
            text("coalesce(user_id, 0)"),
            text("coalesce(contact_id, 0)"),
            unique=True,
        ),
    )

    id: Mapped[BigId]
    activity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE")
    )


class DocumentContent(Base):
    """A document's bytes, apart from the activity row so that listing never reads them."""

    __tablename__ = "document_contents"

    activity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ActivityMention(Base):
    """A user or team that an activity's text mentions (app/crm/activities/mentions.py): one
    row per `@handle` in the text, where it stands, in characters (code points)."""

    __tablename__ = "activity_mentions"
    __table_args__ = (
        CheckConstraint("num_nonnulls(user_id, team_id) = 1", name="one_target"),
        CheckConstraint("start >= 0 AND length > 1", name="span"),
        Index("ix_activity_mentions_activity", "activity_id", "start"),
        Index("ix_activity_mentions_user", "user_id", postgresql_where=text("user_id IS NOT NULL")),
        Index("ix_activity_mentions_team", "team_id", postgresql_where=text("team_id IS NOT NULL")),
    )

    id: Mapped[BigId]
    activity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("activities.id", ondelete="CASCADE")
    )
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    team_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("teams.id", ondelete="CASCADE")
    )
    start: Mapped[int] = mapped_column(Integer)
    length: Mapped[int] = mapped_column(Integer)
