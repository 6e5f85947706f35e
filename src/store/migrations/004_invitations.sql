-- Invitations: indexes for the brakes' history read at start (recent rows),
-- the invitation list by status, and the chats that followed an invitation
-- (rule statistics).

CREATE INDEX invitation_created ON invitation(created_at);
CREATE INDEX invitation_status ON invitation(status);
CREATE INDEX conversation_invitation ON conversation(invitation_id);
