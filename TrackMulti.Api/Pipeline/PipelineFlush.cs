namespace TrackMulti.Api.Pipeline;

/// <summary>
/// Seals every open batch and waits for the record to confirm every sealed one: <c>POST /api/flush</c>, and a replay
/// before it plans (so no row of its window is on its way).
/// </summary>
public sealed class PipelineFlush(IEventPipeline pipeline, IRecord record)
{
    public async Task<FlushOutcome> RunAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<SealedBatch> sealedBatches;
        try
        {
            sealedBatches = await pipeline.SealAllAsync(cancellationToken);
        }
        catch (IntakeClosedException ex)
        {
            return new FlushOutcome(FlushFailure.ShuttingDown, ex.Message, [], null);
        }
        catch (SpoolWriteException ex)
        {
            return new FlushOutcome(FlushFailure.SpoolError, ex.Message, [], null);
        }

        var confirmation = await record.ConfirmAsync(cancellationToken);
        return confirmation.Confirmed
            ? new FlushOutcome(FlushFailure.None, null, sealedBatches, confirmation)
            : new FlushOutcome(FlushFailure.NotConfirmed, confirmation.Error, sealedBatches, confirmation);
    }
}

/// <param name="Detail">Why it failed.</param>
/// <param name="Sealed">The batches this flush sealed, events first.</param>
/// <param name="Confirmation">The record's answer, once the seals were made.</param>
public sealed record FlushOutcome(FlushFailure Failure, string? Detail, IReadOnlyList<SealedBatch> Sealed, RecordConfirmation? Confirmation);

public enum FlushFailure
{
    None,

    /// <summary>The service is stopping: nothing was sealed.</summary>
    ShuttingDown,

    /// <summary>The spool refused a seal.</summary>
    SpoolError,

    /// <summary>Sealed, but the record did not confirm every batch in time; they stay and are retried.</summary>
    NotConfirmed,
}
