namespace TrackMulti.Api.Spool;

/// <summary>The spool holds as much as it may (<c>SPOOL_MAX_BYTES</c>): a sink is behind; try again later.</summary>
public sealed class SpoolFullException(long maxBytes)
    : Exception($"The spool is full ({maxBytes} bytes wait for delivery); nothing was stored. Retry later.");

/// <summary>The disk refused the write; nothing of the request was stored.</summary>
public sealed class SpoolWriteException(string message) : Exception(message);
