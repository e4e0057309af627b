"""Arguments of root fields as the domain takes them."""

from __future__ import annotations

from app.crm.errors import DomainError
from app.graphql.errors import bad_input
from app.graphql.ids import decode_id


def decoded(global_id: str, node_type: str) -> int:
    """The database ID in a global ID of `node_type`; a client error otherwise."""
    try:
        return decode_id(global_id, node_type)
    except DomainError as error:
        raise bad_input(error) from None
