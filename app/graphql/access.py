"""Who may read and run what: every field of the API declares its access rule, here.

The rules, from the most open:

- ANYONE: runs without a token (logging in, and what a client asks before it has one).
- SIGNED_IN: any signed-in user, and every one of them gets the same answer: the catalogues
  (stages, folders, products), companies, contacts, users and teams.
- DEAL: through an opportunity the caller may see (the visibility rule, architecture.md):
  the deal's own fields and everything that hangs from it (participants, activities, orders,
  history, events, sums over deals). A hidden deal answers exactly as a missing one.
- OWN: the caller's own records: themselves, their tasks, their views (and the views others
  shared with them).
- OWNER_OR_ADMIN: the record's owner, or an admin: deleting a deal, changing a view, a
  user's access tokens.
- ADMIN: admins only.

Where each is kept: the root fields of an operation are checked before anything runs
(`TandemSchema.execute` and `stream`, app/graphql/schema.py, from the root fields the
operation's cached formula names): without a signed-in user only ANYONE roots run, the rest
answer UNAUTHENTICATED; a member asking for an ADMIN query or subscription gets FORBIDDEN.
ADMIN mutations refuse members in their services, with a FORBIDDEN userError (clients
rely on that answer), as OWN and OWNER_OR_ADMIN mutations refuse others. DEAL is kept by the
domain's reads, which select through the visibility rule (app/crm/actor.py), so a nested
field is as safe as the reads behind it. A nested field is only reached through a root
field: its rule says what it keeps beyond its root's.

Declaring a new field: a root field goes into QUERY, MUTATION or SUBSCRIPTION, one line
each. A new object type goes into TYPES with the rule of all its fields; a field stricter
than its type's rule goes into FIELDS. tests/test_access_rules.py walks the schema and fails
on a field without a rule, on a declaration naming something that no longer exists, on an
ADMIN field reachable through a root that is not ADMIN, and on an ADMIN root field without
a test case of its own.
"""

from __future__ import annotations

from enum import Enum


class Access(Enum):
    ANYONE = "anyone"
    SIGNED_IN = "signed in"
    DEAL = "through a deal the caller may see"
    OWN = "the caller's own"
    OWNER_OR_ADMIN = "the record's owner or an admin"
    ADMIN = "admins only"


ANYONE = Access.ANYONE
SIGNED_IN = Access.SIGNED_IN
DEAL = Access.DEAL
OWN = Access.OWN
OWNER_OR_ADMIN = Access.OWNER_OR_ADMIN
ADMIN = Access.ADMIN

QUERY: dict[str, Access] = {
    "__typename": ANYONE,
    # The schema is public (schema/schema.graphql is published with the code); whether it
    # may be asked at all is TANDEM_INTROSPECTION's to say.
    "__schema": ANYONE,
    "__type": ANYONE,
    "me": OWN,
    "users": SIGNED_IN,
    "teams": SIGNED_IN,
    # Any object by its ID, each by its own type's rule: a hidden deal, and what hangs from
    # it, is null as a missing one; so is a view that is neither the caller's nor shared.
    "node": DEAL,
    "nodes": DEAL,
    "eventCursor": SIGNED_IN,
    "opportunity": DEAL,
    "opportunities": DEAL,
    "opportunityGroups": DEAL,
    "views": OWN,
    "stages": SIGNED_IN,
    "lostReasons": SIGNED_IN,
    "folders": SIGNED_IN,
    "companies": SIGNED_IN,
    "contacts": SIGNED_IN,
    "myTasks": OWN,  # and of deals the caller may see
    "appointments": DEAL,
    "orders": DEAL,
    "order": DEAL,
    "products": SIGNED_IN,
    "persistedQueries": ADMIN,
    # The caller's tokens; an admin may name anyone's (userId).
    "accessTokens": OWNER_OR_ADMIN,
    "auditLog": ADMIN,
    # The deals the caller follows, of those they may see.
    "following": DEAL,
    "notifications": OWN,
    "unreadNotificationCount": OWN,
    "notificationPreferences": OWN,
}

MUTATION: dict[str, Access] = {
    "__typename": ANYONE,
    "login": ANYONE,
    "changePassword": OWN,
    "logout": OWN,
    "createAccessToken": OWN,
    "revokeAccessToken": OWNER_OR_ADMIN,
    "createUser": ADMIN,
    "updateUser": ADMIN,
    "createTeam": ADMIN,
    "renameTeam": ADMIN,
    "deleteTeam": ADMIN,
    "addTeamMember": ADMIN,
    "removeTeamMember": ADMIN,
    "createOpportunity": SIGNED_IN,
    "updateOpportunity": DEAL,
    "markOpportunityWon": DEAL,
    "markOpportunityLost": DEAL,
    "reopenOpportunity": DEAL,
    # Of the deals the caller may see (a hidden one is NOT_FOUND, as a missing one).
    "deleteOpportunity": OWNER_OR_ADMIN,
    "moveOpportunity": DEAL,
    "linkParticipant": DEAL,
    "unlinkParticipant": DEAL,
    "createFolder": SIGNED_IN,
    "renameFolder": SIGNED_IN,
    "moveFolder": SIGNED_IN,
    "deleteFolder": SIGNED_IN,
    "createStage": ADMIN,
    "updateStage": ADMIN,
    "deleteStage": ADMIN,
    "createCompany": SIGNED_IN,
    "updateCompany": SIGNED_IN,
    "deleteCompany": SIGNED_IN,
    "createContact": SIGNED_IN,
    "updateContact": SIGNED_IN,
    "deleteContact": SIGNED_IN,
    "addJournal": DEAL,
    "addTask": DEAL,
    "addAppointment": DEAL,
    "logEmail": DEAL,
    "uploadDocument": DEAL,
    "updateActivity": DEAL,
    "setTaskStatus": DEAL,
    "deleteActivity": DEAL,
    "createProduct": ADMIN,
    "updateProduct": ADMIN,
    # An order without a deal is everyone's; with one, as visible as its deal.
    "createOrder": DEAL,
    "createOrderFromOpportunity": DEAL,
    "updateOrder": DEAL,
    "setOrderStatus": DEAL,
    "addOrderLine": DEAL,
    "updateOrderLine": DEAL,
    "removeOrderLine": DEAL,
    "reorderOrderLines": DEAL,
    "createView": OWN,
    "updateView": OWNER_OR_ADMIN,
    "deleteView": OWNER_OR_ADMIN,
    "registerPersistedQuery": ADMIN,
    "removePersistedQuery": ADMIN,
    # Of the deals the caller may see (a hidden one is NOT_FOUND, as a missing one).
    "followOpportunity": DEAL,
    "unfollowOpportunity": DEAL,
    # The caller's own notifications: another's ID is NOT_FOUND, as a missing one.
    "markNotificationRead": OWN,
    "markAllNotificationsRead": OWN,
    "setNotificationPreference": OWN,
    # On a deal the caller may see (a hidden one is NOT_FOUND), or on the board.
    "announcePresence": DEAL,
}

SUBSCRIPTION: dict[str, Access] = {
    "__typename": ANYONE,
    # Judged per event at delivery, with the subscriber's rights of that moment.
    "opportunityEvents": DEAL,
    "orderEvents": DEAL,
    # The caller's inbox; each notification shown only while its deal is visible to them.
    "notificationEvents": OWN,
    # A deal's: as the deal. The board's: anyone's, listing only the deals the subscriber
    # may see, judged afresh for every snapshot.
    "presence": DEAL,
}

ROOTS: dict[str, dict[str, Access]] = {
    "query": QUERY,
    "mutation": MUTATION,
    "subscription": SUBSCRIPTION,
}
"""The root fields' rules by operation type, as `Formula.kind` names it."""

TYPES: dict[str, Access] = {
    # What login answers, before the caller has a token.
    **dict.fromkeys(("LoginPayload", "UserError"), ANYONE),
    **dict.fromkeys(
        (
            *("User", "Team", "Stage", "LostReason", "Folder", "Product"),
            *("Company", "CompanyConnection", "CompanyEdge"),
            *("Contact", "ContactConnection", "ContactEdge"),
            *("ProductConnection", "ProductEdge"),
            # Values, as readable as the field that holds them.
            *("Money", "PageInfo"),
            # The interface: each object that implements it has its own rule.
            "Node",
            # A mutation's answer to whoever ran it; what it carries, FIELDS says.
            *("UserPayload", "TeamPayload", "StagePayload", "FolderPayload", "DeletePayload"),
            *("CompanyPayload", "ContactPayload", "ProductPayload"),
            *("OpportunityPayload", "ParticipantPayload", "ActivityPayload", "LogEmailPayload"),
            *("OrderPayload", "OrderLinePayload", "ViewPayload"),
            *("PersistedQueryPayload", "RemovePersistedQueryPayload"),
            *("ChangePasswordPayload", "LogoutPayload"),
            *("CreateAccessTokenPayload", "AccessTokenPayload"),
        ),
        SIGNED_IN,
    ),
    **dict.fromkeys(
        (
            *("Opportunity", "OpportunityConnection", "OpportunityEdge", "Participant"),
            *("OpportunityEvent", "OpportunityEventConnection", "OpportunityEventEdge"),
            "FieldChange",
            *("TimelineEntry", "TimelineEntryConnection", "TimelineEntryEdge"),
            *("Activity", "Journal", "Task", "Appointment", "Document", "Email"),
            *("Mention", "TextSpan"),
            *("ActivityConnection", "ActivityEdge", "TaskConnection", "TaskEdge"),
            *("Order", "OrderLine", "Discount", "OrderConnection", "OrderEdge", "OrderEvent"),
            # Counts and sums over the deals the caller may see.
            *("OpportunityGroup", "GroupTotal"),
        ),
        DEAL,
    ),
    # The caller's views, and those shared with them (everyone's, their teams'); admins
    # see all.
    **dict.fromkeys(("OpportunityView", "ViewSort"), OWN),
    "AccessToken": OWNER_OR_ADMIN,
    **dict.fromkeys(("AuditEntry", "AuditEntryConnection", "AuditEntryEdge"), ADMIN),
    "PersistedQuery": ADMIN,
    # The caller's inbox: notifications about deals they may see now, and their choices.
    **dict.fromkeys(
        (
            *("Notification", "NotificationConnection", "NotificationEdge"),
            *("NotificationEvent", "NotificationPreference"),
        ),
        OWN,
    ),
    **dict.fromkeys(
        (
            *("FollowOpportunityPayload", "NotificationPayload"),
            *("MarkAllNotificationsReadPayload", "NotificationPreferencePayload"),
        ),
        SIGNED_IN,
    ),
    # Who is on a deal: shown only through the deal (a snapshot, its Opportunity.presence).
    **dict.fromkeys(("PresenceSnapshot", "OpportunityPresence", "PresenceEntry"), DEAL),
    "AnnouncePresencePayload": SIGNED_IN,
}

FIELDS: dict[tuple[str, str], Access] = {
    ("LoginPayload", "user"): OWN,
    # Only the deals the caller may see are counted, and only their activities listed.
    ("Folder", "opportunityCount"): DEAL,
    ("Company", "activities"): DEAL,
    ("Contact", "activities"): DEAL,
    # What a mutation hands back: null, with userErrors, for a caller not allowed it.
    ("OpportunityPayload", "opportunity"): DEAL,
    ("ParticipantPayload", "participant"): DEAL,
    ("ParticipantPayload", "opportunity"): DEAL,
    ("ActivityPayload", "activity"): DEAL,
    ("LogEmailPayload", "activity"): DEAL,
    ("LogEmailPayload", "created"): DEAL,
    ("OrderPayload", "order"): DEAL,
    ("OrderLinePayload", "line"): DEAL,
    ("OrderLinePayload", "order"): DEAL,
    ("ViewPayload", "view"): OWN,
    ("ChangePasswordPayload", "token"): OWN,
    ("ChangePasswordPayload", "user"): OWN,
    ("CreateAccessTokenPayload", "token"): OWN,
    ("CreateAccessTokenPayload", "accessToken"): OWN,
    ("AccessTokenPayload", "accessToken"): OWNER_OR_ADMIN,
    ("PersistedQueryPayload", "persistedQuery"): ADMIN,
    ("AnnouncePresencePayload", "presence"): DEAL,
    ("RemovePersistedQueryPayload", "removedHash"): ADMIN,
    ("Notification", "opportunity"): DEAL,
    ("Notification", "activity"): DEAL,
    ("FollowOpportunityPayload", "opportunity"): DEAL,
    ("FollowOpportunityPayload", "following"): DEAL,
    ("NotificationPayload", "notification"): OWN,
    ("NotificationPayload", "unreadCount"): OWN,
    ("MarkAllNotificationsReadPayload", "markedCount"): OWN,
    ("MarkAllNotificationsReadPayload", "unreadCount"): OWN,
    ("NotificationPreferencePayload", "preference"): OWN,
}


def rule(type_name: str, field_name: str) -> Access | None:
    """The declared rule of a field of an object or interface type (not of a root)."""
    return FIELDS.get((type_name, field_name), TYPES.get(type_name))


def _named(kind: str, access: Access) -> frozenset[str]:
    return frozenset(name for name, declared in ROOTS[kind].items() if declared is access)


SIGNED_OUT: dict[str, frozenset[str]] = {kind: _named(kind, ANYONE) for kind in ROOTS}
"""By operation type: the root fields that run without a signed-in user."""

MEMBERS_REFUSED: dict[str, frozenset[str]] = {
    "query": _named("query", ADMIN),
    # A member's admin mutation is answered by its service: a FORBIDDEN userError, the
    # answer clients rely on, and nothing changed.
    "mutation": frozenset(),
    "subscription": _named("subscription", ADMIN),
}
"""By operation type: the root fields refused to members before the operation runs."""
