"""Fresh research tasks from personas (``dreval generate-tasks``): ``generate`` runs personas -> drafts -> dedup
and novelty -> Task Qualification -> answer without search -> Search Necessity -> searchability, each phase in its
own module (``drafts``, ``candidates``, ``pipeline``, ``quotas``, ``journal``, ``outputs``, ``summary``, ``plan``,
``revalidate``), over the persona library (``personas``), the filters (``filters``) and similarity (``dedup``)."""
