namespace TrackMulti.Api.Pipeline;

/// <summary>One destination's backlog and health, as <c>/api/status</c> shows it. Every sink is one.</summary>
public interface IDeliveryStatus
{
    SinkStatus Status();
}

/// <summary>The spool as <c>/api/status</c> shows it: what it holds, whether it is faulted, what it took over.</summary>
public interface ILogStatus
{
    /// <summary>The replica whose spool folder this is (<c>INSTANCE_ID</c>).</summary>
    string InstanceId { get; }

    /// <summary>Why the spool refuses writes, or null.</summary>
    string? Fault { get; }

    SpoolStats Stats();

    /// <summary>Spool folders of other replicas (or earlier runs) this one took over lately, newest last.</summary>
    IReadOnlyList<Adoption> Adopted();
}

/// <summary>
/// The destinations' settings <c>/api/status</c> names: the bucket and its region, and what goes to FME (or why
/// nothing does). Set by the composition root from the sinks' options.
/// </summary>
public sealed record DestinationSettings(string Bucket, string Region, string FmeForwarding);

/// <summary>One sink as <c>/api/status</c> shows it.</summary>
/// <param name="BacklogSegments">Batches waiting for this sink.</param>
/// <param name="BacklogEvents">Events in them not yet delivered.</param>
/// <param name="BacklogBytes">Spool bytes they take.</param>
/// <param name="OldestAgeSeconds">How long the oldest of them has waited since it was sealed.</param>
/// <param name="DroppedEvents">Events this sink will never deliver (since the Api started), and why the last were.</param>
public sealed record SinkStatus(
    string Name, int BacklogSegments, long BacklogEvents, long BacklogBytes, double? OldestAgeSeconds,
    DateTimeOffset? LastSuccessAt, int ConsecutiveFailures, string? LastError, long DroppedEvents, string? LastDrop);

/// <param name="Segments">Spool files, the open ones included.</param>
/// <param name="Bytes">Disk they take.</param>
/// <param name="OpenEvents">Events in segments not yet sealed.</param>
public sealed record SpoolStats(int Segments, long Bytes, int OpenEvents);

/// <summary>A spool folder taken over: how many segments and events it held, when.</summary>
/// <param name="Folder">The adopted folder's name (the instance id it belonged to; the spool folder itself for a one-replica spool).</param>
public sealed record Adoption(string Folder, int Segments, int Events, DateTimeOffset At);
