"""The request bodies as FastAPI route parameters (``body: bodies.Register``): each is a wire
struct (wire/requests.py), decoded by :func:`~.boundary.json_body` and documented from the struct."""

from typing import Annotated

from firebreak.entrypoints.gateway.boundary import json_body
from firebreak.wire import requests as wire

Register = Annotated[wire.RegisterBody, json_body(wire.RegisterBody)]
Login = Annotated[wire.LoginBody, json_body(wire.LoginBody)]
Profile = Annotated[wire.ProfileBody, json_body(wire.ProfileBody)]
Direct = Annotated[wire.DirectBody, json_body(wire.DirectBody)]
Group = Annotated[wire.GroupBody, json_body(wire.GroupBody)]
Rename = Annotated[wire.RenameBody, json_body(wire.RenameBody)]
Invite = Annotated[wire.InviteBody, json_body(wire.InviteBody)]
Leave = Annotated[wire.LeaveBody, json_body(wire.LeaveBody)]
Batch = Annotated[wire.BatchBody, json_body(wire.BatchBody)]
Edit = Annotated[wire.EditBody, json_body(wire.EditBody)]
React = Annotated[wire.ReactBody, json_body(wire.ReactBody)]
Read = Annotated[wire.ReadBody, json_body(wire.ReadBody)]
#: Optional: no body means ``{"typing": true}``.
Typing = Annotated[wire.TypingBody, json_body(wire.TypingBody, optional=True)]
Password = Annotated[wire.PasswordBody, json_body(wire.PasswordBody)]
Upload = Annotated[wire.UploadBody, json_body(wire.UploadBody)]
Transfer = Annotated[wire.TransferBody, json_body(wire.TransferBody)]
Faucet = Annotated[wire.FaucetBody, json_body(wire.FaucetBody)]
