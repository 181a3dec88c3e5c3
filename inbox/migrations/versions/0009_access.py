"""access: explicit unit scope for users and tokens, session versions, OpenID Connect subjects

`all_units` makes "every unit" an explicit grant for users and tokens alike. Tokens made before
this revision without units saw every unit, so they keep that grant; users without units saw
none and keep that too. `session_version` is raised to end a user's sessions at once (sign-out,
password, role, units, deactivation). `oidc_subject` binds a user to the provider's `sub` after
the first sign-in.

Plain ADD COLUMN statements only (no batch copy: see 0008_list_speed).

Revision ID: 0009_access
Revises: 0008_list_speed
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0009_access"
down_revision: str | None = "0008_list_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    false = sa.text("false") if op.get_bind().dialect.name == "postgresql" else sa.text("0")
    op.add_column(
        "staff_users", sa.Column("all_units", sa.Boolean(), nullable=False, server_default=false)
    )
    op.add_column(
        "staff_users",
        sa.Column("session_version", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column(
        "staff_users",
        sa.Column("oidc_subject", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    )
    op.create_index("ux_staff_users_oidc_subject", "staff_users", ["oidc_subject"], unique=True)
    op.add_column(
        "api_tokens", sa.Column("all_units", sa.Boolean(), nullable=False, server_default=false)
    )
    op.execute(
        "UPDATE api_tokens SET all_units = "
        + ("true" if op.get_bind().dialect.name == "postgresql" else "1")
        + " WHERE id NOT IN (SELECT token_id FROM api_token_units)"
    )


def downgrade() -> None:
    op.drop_index("ux_staff_users_oidc_subject", table_name="staff_users")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("oidc_subject")
        batch.drop_column("session_version")
        batch.drop_column("all_units")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("all_units")
