using TrackMulti.Api.Pipeline;

namespace TrackMulti.Api.Spool;

/// <summary>The spool's face for <c>/api/status</c>: the log's figures and fault, and the adopter's recent work.</summary>
public sealed class SpoolStatus(SpoolLog log, SpoolAdopter adopter) : ILogStatus
{
    public string InstanceId => log.InstanceId;

    public string? Fault => log.Fault;

    public SpoolStats Stats() => log.Stats();

    public IReadOnlyList<Adoption> Adopted() => adopter.Recent();
}
