"""The application's SQLAlchemy models: what the code expects the schema to be.

env.py hands `Base.metadata` to Alembic, so `alembic check` (and gate-replay's R008) compares
these models with the schema the migrations build.
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
    __table_args__ = (Index("ix_users_email", "email", unique=True),)


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
    __table_args__ = (Index("ix_audit_log_created_at", "created_at"),)


class UserSession(Base):
    __tablename__ = "user_sessions"
    id = Column(String(64), primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    expires_at = Column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_user_sessions_user_id", "user_id"),)


class AdminPermission(Base):
    __tablename__ = "admin_permissions"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    permission = Column(String(100), nullable=False)
    __table_args__ = (
        UniqueConstraint("user_id", "permission", name="uq_admin_permissions_user_permission"),
    )
