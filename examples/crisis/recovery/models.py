"""app/models.py after the recovery (ci/crisis.sh copies it over app/models.py, step 14).

The consolidation made the chain build what production really has; the models follow it:
the column and indexes the emergency fixes added, the fix's name for the unique constraint,
the nullable `expires_at` and no `ix_user_sessions_user_id` (production never got that index:
the fix had already created the table when the migration ran). A team that wants the index
or NOT NULL back writes a new migration for it, and production gets it like every change.
"""
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ENUM, JSONB
from sqlalchemy.orm import declarative_base

Base = declarative_base()

UserRole = ENUM("user", "admin", "super_admin", name="userrole")
PlanTier = ENUM("free", "team", "enterprise", name="plantier")


class Organisation(Base):
    __tablename__ = "organisations"
    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False)
    slug = Column(String(100), nullable=False, unique=True)
    created_at = Column(DateTime(timezone=True), server_default=text("now()"), nullable=False)
    plan = Column(PlanTier, server_default="free", nullable=False)


class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    email = Column(String(255), nullable=False)
    full_name = Column(String(200))
    role = Column(UserRole, nullable=False)
    created_at = Column(DateTime(timezone=True), server_default=text("now()"), nullable=False)
    organisation_id = Column(
        Integer, ForeignKey("organisations.id", name="fk_users_organisation_id", ondelete="CASCADE")
    )
    last_login_at = Column(DateTime(timezone=True))
    is_verified = Column(Boolean, server_default=false(), nullable=False)
    __table_args__ = (
        Index("ix_users_email", "email", unique=True),
        Index("ix_users_organisation_id", "organisation_id"),
    )


class FeatureFlag(Base):
    __tablename__ = "feature_flags"
    id = Column(Integer, primary_key=True)
    key = Column(String(100), nullable=False, unique=True)
    enabled = Column(Boolean, server_default=false(), nullable=False)
    description = Column(Text)
    status = Column(String(20), server_default="active", nullable=False)
    organisation_id = Column(
        Integer, ForeignKey("organisations.id", name="fk_feature_flags_organisation_id")
    )


class AuditLog(Base):
    __tablename__ = "audit_log"
    id = Column(BigInteger, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    action = Column(String(100), nullable=False)
    payload = Column(JSONB)
    created_at = Column(DateTime(timezone=True), server_default=text("now()"), nullable=False)
    __table_args__ = (
        Index("ix_audit_log_created_at", "created_at"),
        Index("ix_audit_log_user_id", "user_id"),
    )


class UserSession(Base):
    __tablename__ = "user_sessions"
    id = Column(String(64), primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    expires_at = Column(DateTime(timezone=True))


class AdminPermission(Base):
    __tablename__ = "admin_permissions"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    permission = Column(String(100), nullable=False)
    __table_args__ = (
        UniqueConstraint("user_id", "permission", name="admin_permissions_user_id_permission_key"),
    )
